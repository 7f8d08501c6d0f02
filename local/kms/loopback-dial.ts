// Tests and the local stack only: a Dial (proto/ports.ts) that connects to loopback, optionally
// recording every byte in both directions (the canary tests look for secrets in it) and counting
// connections. Refuses anything but loopback addresses and localhost.
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { Dial } from '../../proto/ports.ts';

export interface LoopbackDial {
  readonly dial: Dial;
  /** Every byte written or read through the dialled sockets, per connection, in order. */
  readonly recorded: Buffer[];
  readonly connections: number;
}

/**
 * A loopback-only Dial for tests and the local stack; `record` keeps every byte, `hostMap` redirects
 * a dialled host:port (e.g. `kms.us-east-1.amazonaws.com:443`) to a loopback stand-in.
 */
export function loopbackDial(opts: { record?: boolean; hostMap?: Record<string, { host: string; port: number }> } = {}): LoopbackDial {
  const recorded: Buffer[] = [];
  let connections = 0;
  const dial: Dial = (host, port, o) =>
    new Promise<Duplex>((resolve, reject) => {
      const mapped = opts.hostMap?.[`${host}:${port}`] ?? { host, port };
      if (!['127.0.0.1', '::1', 'localhost'].includes(mapped.host)) return reject(new Error('loopback only'));
      const sock = net.connect({ host: mapped.host === 'localhost' ? '127.0.0.1' : mapped.host, port: mapped.port });
      const onAbort = (): void => {
        sock.destroy();
        reject(new Error('dial aborted'));
      };
      o?.signal?.addEventListener('abort', onAbort, { once: true });
      sock.once('connect', () => {
        o?.signal?.removeEventListener('abort', onAbort);
        connections++;
        resolve(asDuplex(sock, opts.record ? recorded : null));
      });
      sock.once('error', reject);
    });
  return {
    dial,
    recorded,
    get connections() {
      return connections;
    },
  };
}

/**
 * Wraps the socket in a plain JS Duplex, as the wire's streams are in production: TLS then runs over
 * a JS stream (not a native handle), and every byte passes through here where it can be recorded.
 */
export function asDuplex(sock: net.Socket, recorded: Buffer[] | null = null): Duplex {
  const d = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      recorded?.push(Buffer.from(chunk));
      sock.write(chunk, (err) => cb(err ?? null));
    },
    read() {
      sock.resume();
    },
    final(cb) {
      sock.end(() => cb());
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  sock.on('data', (chunk: Buffer) => {
    recorded?.push(Buffer.from(chunk));
    if (!d.push(chunk)) sock.pause();
  });
  let ended = false;
  sock.on('end', () => {
    ended = true;
    d.push(null);
  });
  sock.on('error', (err) => d.destroy(err));
  sock.on('close', () => {
    if (!ended && !d.destroyed) d.destroy();
  });
  return d;
}
