// Both sides. Transport addresses as URLs: vsock://CID:PORT, unix:///path, tcp://127.0.0.1:PORT.
// tcp is for local use only, so anything but a loopback literal is refused.
import { isIP } from 'node:net';
import { CosignerError } from '../errors.ts';

/** A parsed transport address. */
export type TransportAddress =
  | { kind: 'vsock'; cid: number; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

const U32_MAX = 0xffff_ffff;

function bad(url: string, why: string): CosignerError {
  return new CosignerError('ERR_TRANSPORT_URL', `bad transport URL ${JSON.stringify(url.slice(0, 200))}: ${why}`);
}

function parseUint(s: string, max: number, url: string, what: string): number {
  if (!/^[0-9]{1,10}$/.test(s)) throw bad(url, `${what} must be a decimal integer`);
  const n = Number(s);
  if (n > max) throw bad(url, `${what} out of range`);
  return n;
}

/** True for 127.0.0.0/8 and ::1 literals. */
export function isLoopbackLiteral(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Parses a transport URL; throws ERR_TRANSPORT_URL on anything unexpected. */
export function parseTransportUrl(url: string): TransportAddress {
  if (typeof url !== 'string' || url.length > 4096) throw bad(String(url), 'not a string of sane length');
  const m = /^([a-z]+):\/\/(.*)$/.exec(url);
  if (!m) throw bad(url, 'expected scheme://…');
  const scheme = m[1]!;
  const rest = m[2]!;
  switch (scheme) {
    case 'unix': {
      if (!rest.startsWith('/') || rest.length < 2) throw bad(url, 'unix socket path must be absolute (unix:///path)');
      if (rest.includes('\0')) throw bad(url, 'NUL in path');
      return { kind: 'unix', path: rest };
    }
    case 'vsock': {
      const v = /^([0-9]+):([0-9]+)$/.exec(rest);
      if (!v) throw bad(url, 'expected vsock://CID:PORT');
      return { kind: 'vsock', cid: parseUint(v[1]!, U32_MAX, url, 'CID'), port: parseUint(v[2]!, U32_MAX, url, 'port') };
    }
    case 'tcp': {
      const t = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]+)$/.exec(rest);
      if (!t) throw bad(url, 'expected tcp://127.0.0.1:PORT or tcp://[::1]:PORT');
      const host = (t[1] ?? t[2])!;
      if (!isLoopbackLiteral(host)) throw bad(url, 'tcp transport is for local use only (loopback addresses)');
      return { kind: 'tcp', host, port: parseUint(t[3]!, 65535, url, 'port') };
    }
    default:
      throw bad(url, `unknown scheme ${scheme}`);
  }
}

/** Formats an address back into its URL. */
export function formatTransportUrl(a: TransportAddress): string {
  switch (a.kind) {
    case 'unix':
      return `unix://${a.path}`;
    case 'vsock':
      return `vsock://${a.cid}:${a.port}`;
    case 'tcp':
      return a.host.includes(':') ? `tcp://[${a.host}]:${a.port}` : `tcp://${a.host}:${a.port}`;
  }
}
