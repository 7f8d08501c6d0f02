// Runs in the enclave. An https.Agent whose connections are Dial tunnels through the parent's
// egress relay with TLS terminated here, in the enclave (DESIGN invariant 2): the parent only ever
// relays ciphertext, so it can drop KMS traffic but never read or forge it.
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Dial } from '../../proto/ports.ts';
import { CosignerError } from '../../proto/errors.ts';
import { openTlsTunnel } from '../wire/tls-tunnel.ts';

export interface DialAgentOptions {
  readonly dial: Dial;
  /** PEM trust anchors; undefined = Node's bundled CA store (production, `kms.<region>.amazonaws.com`). */
  readonly caPem?: string | readonly string[];
  /** Bound on concurrent tunnels (default 4). */
  readonly maxSockets?: number;
  /** Bound on the time to get a tunnel from the parent and finish the TLS handshake (default 5 s). */
  readonly dialTimeoutMs?: number;
}

type CreateConnectionCallback = (err: Error | null, socket: Duplex) => void;

/**
 * An https.Agent for the SDK's Node HTTP handler. Node's Agent accepts an asynchronous
 * `createConnection(options, callback)`, so the tunnel and the handshake (enclave/wire/tls-tunnel.ts)
 * complete before the SDK writes; the server certificate and name are verified against `caPem`.
 */
export class DialAgent extends https.Agent {
  private readonly dialFn: Dial;
  private readonly ca: string[] | undefined;
  private readonly dialTimeoutMs: number;
  /** Aborted by destroy(): a tunnel still being dialled or handshaken then ends instead of joining a dead agent. */
  private readonly lifetime = new AbortController();

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
    // A failure here reaches the SDK as a network error; kmsError() reports it as ERR_KMS_UNAVAILABLE.
    openTlsTunnel({
      dial: this.dialFn,
      host,
      port,
      ca: this.ca,
      timeoutMs: this.dialTimeoutMs,
      alpn: ['http/1.1'],
      codes: { timeout: 'ERR_KMS_UNAVAILABLE', tls: 'ERR_KMS_UNAVAILABLE' },
      peerName: 'KMS',
      signal: this.lifetime.signal,
    }).then(
      (sock) => {
        // destroy() ran while this tunnel was opening: the agent no longer tracks it, so close it here.
        if (this.lifetime.signal.aborted) {
          sock.destroy();
          return cb(this.lifetime.signal.reason as Error, undefined as unknown as Duplex);
        }
        cb(null, sock);
      },
      (err: unknown) => cb(err instanceof Error ? err : new Error('dial failed'), undefined as unknown as Duplex),
    );
    return undefined;
  }

  /**
   * Closes every tunnel, idle keep-alive ones included, and any still opening. The co-signer calls
   * this (through KMSClient.destroy) once it is done with KMS: an idle keep-alive tunnel is a relayed
   * connection the wire's graceful close would otherwise wait for at shutdown.
   */
  override destroy(): void {
    if (!this.lifetime.signal.aborted) this.lifetime.abort(new CosignerError('ERR_CANCELLED', 'the KMS client was closed'));
    super.destroy();
  }
}
