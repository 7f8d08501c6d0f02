// Runs in the enclave. An https.Agent whose connections are Dial tunnels through the parent's
// egress relay with TLS terminated here, in the enclave (DESIGN invariant 2): the parent only ever
// relays ciphertext, so it can drop KMS traffic but never read or forge it.
import https from 'node:https';
import tls from 'node:tls';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dial } from '../../proto/ports.ts';

export interface DialAgentOptions {
  readonly dial: Dial;
  /** PEM trust anchors; undefined = Node's bundled CA store (production, `kms.<region>.amazonaws.com`). */
  readonly caPem?: string | readonly string[];
  /** Bound on concurrent tunnels (default 4). */
  readonly maxSockets?: number;
  /** Bound on the time to get a tunnel from the parent (default 5 s). */
  readonly dialTimeoutMs?: number;
}

type CreateConnectionCallback = (err: Error | null, socket: Duplex) => void;

/**
 * An https.Agent for the SDK's Node HTTP handler. Node's Agent accepts an asynchronous
 * `createConnection(options, callback)`, so the dial can complete before TLS starts; the TLS socket
 * verifies the server certificate and name against `caPem` (or the system store).
 */
export class DialAgent extends https.Agent {
  private readonly dialFn: Dial;
  private readonly ca: string[] | undefined;
  private readonly dialTimeoutMs: number;

  constructor(opts: DialAgentOptions) {
    super({ keepAlive: true, maxSockets: opts.maxSockets ?? 4, maxFreeSockets: 2, timeout: 30_000 });
    this.dialFn = opts.dial;
    this.ca = opts.caPem === undefined ? undefined : typeof opts.caPem === 'string' ? [opts.caPem] : [...opts.caPem];
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 5_000;
  }

  override createConnection(options: https.RequestOptions, callback?: CreateConnectionCallback): Duplex | undefined {
    const cb = callback ?? (() => undefined);
    const host = (options.hostname ?? options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(options.port ?? 443);
    const servername = isIP(host) ? undefined : (options.servername ?? host);
    const ac = new AbortController();
    let settled = false;
    const settle = (err: Error | null, sock?: Duplex): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cb(err, sock as Duplex);
    };
    // The timer fires even if a Dial implementation ignores the abort signal: the request fails
    // (bounded), and a tunnel that turns up later is destroyed unused.
    const timer = setTimeout(() => {
      ac.abort(new Error('dial timeout'));
      settle(new Error(`dial ${host}:${port} timed out after ${this.dialTimeoutMs} ms`));
    }, this.dialTimeoutMs);
    this.dialFn(host, port, { signal: ac.signal }).then(
      (raw) => {
        if (settled) {
          raw.destroy();
          return;
        }
        const sock = tls.connect({
          socket: raw,
          ...(servername !== undefined ? { servername } : {}),
          host,
          ca: this.ca,
          minVersion: 'TLSv1.2',
          rejectUnauthorized: true,
          ALPNProtocols: ['http/1.1'],
        });
        settle(null, sock);
      },
      (err: unknown) => settle(err instanceof Error ? err : new Error('dial failed')),
    );
    return undefined;
  }
}
