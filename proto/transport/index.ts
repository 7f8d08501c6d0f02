// Both sides. One interface over the three transports; the URL picks which (see url.ts).
import net from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import { CosignerError } from '../errors.ts';
import { formatTransportUrl, parseTransportUrl } from './url.ts';
import { dialVsock, listenVsock } from './vsock/index.ts';

/** A listening transport. `address` is the URL actually bound (port 0 resolved). */
export interface TransportListener {
  readonly address: string;
  close(): Promise<void>;
}

/** Default time to establish a connection. */
export const DEFAULT_DIAL_TIMEOUT_MS = 5000;

function connError(err: unknown, url: string): CosignerError {
  if (err instanceof CosignerError) return err;
  const e = err as NodeJS.ErrnoException;
  return new CosignerError('ERR_UNAVAILABLE', `cannot connect to ${url}: ${e.code ?? e.message}`, { cause: err });
}

/** Opens a byte stream to `url`. Throws ERR_TRANSPORT_URL, ERR_UNAVAILABLE, ERR_TIMEOUT or ERR_VSOCK_UNAVAILABLE. */
export async function dialTransport(url: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<net.Socket> {
  const a = parseTransportUrl(url);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
  if (a.kind === 'vsock') return dialVsock(a.cid, a.port, timeoutMs);
  const sock = a.kind === 'unix' ? net.connect({ path: a.path }) : net.connect({ host: a.host, port: a.port });
  return new Promise((resolve, reject) => {
    const done = (err?: unknown): void => {
      clearTimeout(timer);
      sock.removeListener('connect', onConnect);
      sock.removeListener('error', onError);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(sock);
      else {
        sock.destroy();
        reject(err);
      }
    };
    const onConnect = (): void => done();
    const onError = (err: Error): void => done(connError(err, url));
    const onAbort = (): void => done(new CosignerError('ERR_CANCELLED', `dial ${url} cancelled`));
    const timer = setTimeout(() => done(new CosignerError('ERR_TIMEOUT', `dial ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', onConnect);
    sock.once('error', onError);
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Listens on `url` and hands every accepted socket to `onSocket`. A stale unix socket file is replaced. */
export async function listenTransport(url: string, onSocket: (s: net.Socket) => void): Promise<TransportListener> {
  const a = parseTransportUrl(url);
  let server: net.Server;
  let address: string;
  const sockets = new Set<net.Socket>();
  // Attached before the server listens: a client may connect while the set-up below still awaits
  // (unlink, chmod), and a 'connection' emitted with no listener would leave that client hanging.
  const onConnection = (s: net.Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    onSocket(s);
  };
  if (a.kind === 'vsock') {
    const v = await listenVsock(a.cid, a.port);
    server = v.server;
    server.on('connection', onConnection);
    address = formatTransportUrl({ kind: 'vsock', cid: a.cid, port: v.port });
  } else {
    server = net.createServer(onConnection);
    if (a.kind === 'unix') await unlink(a.path).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new CosignerError('ERR_UNAVAILABLE', `cannot listen on ${url}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })));
      if (a.kind === 'unix') server.listen({ path: a.path }, () => resolve());
      else server.listen({ host: a.host, port: a.port }, () => resolve());
    });
    server.removeAllListeners('error');
    // Only the owner may connect to a local wire socket (the enclave in local mode).
    if (a.kind === 'unix') await chmod(a.path, 0o600);
    const bound = server.address();
    address = a.kind === 'tcp' && bound && typeof bound === 'object' ? formatTransportUrl({ kind: 'tcp', host: a.host, port: bound.port }) : url;
  }
  server.on('error', () => undefined);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
