// Parent and enclave. AF_VSOCK through the tiny native binding in ./native: the binding creates the
// socket and returns an fd, libuv does the rest. A listening fd is wrapped in a libuv TCP handle
// and a connected one in a Pipe handle (Node refuses a vsock fd in net.Socket({fd}): its type guess
// only knows TCP and unix sockets).
import { createRequire } from 'node:module';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CosignerError } from '../../errors.ts';

interface VsockBinding {
  probe(): number;
  listen(cid: number, port: number, backlog: number): number;
  localAddress(fd: number): { cid: number; port: number };
  close(fd: number): void;
  connect(cid: number, port: number, timeoutMs: number): Promise<number>;
}

/** Any CID (bind on every local address), as in <linux/vm_sockets.h>. */
export const VMADDR_CID_ANY = 0xffff_ffff;
/** Let the kernel pick a port. */
export const VMADDR_PORT_ANY = 0xffff_ffff;

const here = dirname(fileURLToPath(import.meta.url));
let binding: VsockBinding | null | undefined;

/** Path of the built addon (`make native`); COSIGNER_VSOCK_ADDON overrides it (bundles). */
export function addonPath(): string {
  return process.env.COSIGNER_VSOCK_ADDON ?? join(here, 'native', 'build', 'Release', 'vsock.node');
}

/** Loads the addon, or throws ERR_VSOCK_UNAVAILABLE saying why. */
export function loadBinding(): VsockBinding {
  if (binding) return binding;
  const p = addonPath();
  if (!existsSync(p)) throw new CosignerError('ERR_VSOCK_UNAVAILABLE', `vsock addon not built (${p}); run make native`);
  try {
    binding = createRequire(import.meta.url)(p) as VsockBinding;
  } catch (err) {
    throw new CosignerError('ERR_VSOCK_UNAVAILABLE', `cannot load vsock addon: ${(err as Error).message}`, { cause: err });
  }
  return binding;
}

/**
 * Why vsock cannot be used here, or null when it can: the addon is missing, or the kernel refuses
 * socket(AF_VSOCK) (EAFNOSUPPORT without the vsock modules).
 */
export function vsockUnavailableReason(): string | null {
  try {
    loadBinding().probe();
    return null;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return `${e.code ?? 'ERR'}: ${e.message ?? String(err)}`;
  }
}

function sysError(err: unknown, what: string): CosignerError {
  if (err instanceof CosignerError) return err;
  const e = err as { code?: string; message?: string };
  const code = e.code === 'EAFNOSUPPORT' || e.code === 'ENODEV' ? 'ERR_VSOCK_UNAVAILABLE' : 'ERR_UNAVAILABLE';
  return new CosignerError(code, `${what}: ${e.message ?? String(err)}`, { cause: err, details: { errno: e.code ?? 'unknown' } });
}

interface HandleCtor {
  new (type: number): { open(fd: number): number; close(cb?: () => void): void };
}
interface WrapBinding {
  TCP?: HandleCtor;
  Pipe?: HandleCtor;
  constants: { SERVER: number; SOCKET: number };
}

function wrapBinding(name: 'tcp_wrap' | 'pipe_wrap'): WrapBinding {
  // process.binding is deprecated for arbitrary modules but tcp_wrap/pipe_wrap stay on its
  // allow-list; it is the one way to give libuv an fd of a family Node does not know.
  return (process as unknown as { binding(n: string): WrapBinding }).binding(name);
}

/** Listens on vsock://cid:port; resolves with a net.Server already emitting 'connection'. */
export function listenVsock(cid: number, port: number, backlog = 128): Promise<{ server: net.Server; cid: number; port: number }> {
  const b = loadBinding();
  let fd: number;
  try {
    fd = b.listen(cid, port, backlog);
  } catch (err) {
    return Promise.reject(sysError(err, `vsock listen ${cid}:${port}`));
  }
  const local = b.localAddress(fd);
  const tcp = wrapBinding('tcp_wrap');
  const handle = new tcp.TCP!(tcp.constants.SERVER);
  const rc = handle.open(fd);
  if (rc !== 0) {
    b.close(fd);
    return Promise.reject(new CosignerError('ERR_VSOCK_UNAVAILABLE', `libuv refused the vsock fd (${rc})`));
  }
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(sysError(err, 'vsock listen')));
    // net.Server.listen accepts a TCP handle object: it adopts it and calls uv_listen on it.
    server.listen(handle as unknown as net.ListenOptions, () => {
      server.removeAllListeners('error');
      resolve({ server, cid: local.cid, port: local.port });
    });
  });
}

/**
 * Connects to vsock://cid:port (parent → enclave). Never used by the tests on machines without an
 * enclave: nothing may be sent to a CID there.
 */
export async function dialVsock(cid: number, port: number, timeoutMs = 5000): Promise<net.Socket> {
  const b = loadBinding();
  let fd: number;
  try {
    fd = await b.connect(cid, port, timeoutMs);
  } catch (err) {
    throw sysError(err, `vsock connect ${cid}:${port}`);
  }
  const pipe = wrapBinding('pipe_wrap');
  const handle = new pipe.Pipe!(pipe.constants.SOCKET);
  const rc = handle.open(fd);
  if (rc !== 0) {
    b.close(fd);
    throw new CosignerError('ERR_VSOCK_UNAVAILABLE', `libuv refused the vsock fd (${rc})`);
  }
  return new net.Socket({ handle, readable: true, writable: true } as unknown as net.SocketConstructorOpts);
}
