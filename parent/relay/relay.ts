// Runs on the parent. The egress relay: for an allowed host:port it opens a TCP connection and
// hands the socket to the wire, which pipes it to the enclave's tunnel with backpressure. The
// parent sees only ciphertext: TLS starts inside the enclave.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { COORDINATOR_MAX_INFLIGHT } from '../../proto/coordinator/connection.ts';
import { CosignerError } from '../../proto/errors.ts';
import type { AllowList } from './allow-list.ts';

/**
 * Connections the relay holds beyond one per in-flight coordinator request: the coordinator link
 * itself, KMS calls, and a Callback Handler call still closing while the next request starts.
 */
export const RELAY_RESERVED_CONNECTIONS = 16;
/**
 * One budget for both sides (docs/wire.md): each of the enclave's in-flight coordinator requests may
 * hold one Callback Handler connection, so the relay allows that many plus the reserve. Equal limits
 * once made the 64th concurrent transaction fail with an un-coded callback error.
 */
export const RELAY_MAX_CONNECTIONS = COORDINATOR_MAX_INFLIGHT + RELAY_RESERVED_CONNECTIONS;

/** Limits of the relay. */
export interface RelayOptions {
  /** Relay connections open at once. Default RELAY_MAX_CONNECTIONS (80). */
  maxConnections?: number;
  /** Time to establish the TCP connection. Default 10 s. */
  connectTimeoutMs?: number;
  logger?: pino.Logger;
  /** For tests: how to open the TCP connection (default net.connect). */
  connect?: (host: string, port: number) => net.Socket;
}

/** A relay function plus its live connection count. */
export type Relay = ((host: string, port: number) => Promise<Duplex>) & { readonly active: number };

/**
 * Creates the relay for `allow`. The returned function rejects with ERR_EGRESS_DENIED (not on the
 * list), ERR_BUSY (too many connections) or ERR_EGRESS_FAILED (DNS, refused, timeout).
 */
export function createRelay(allow: AllowList, opts: RelayOptions = {}): Relay {
  const max = opts.maxConnections ?? RELAY_MAX_CONNECTIONS;
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  const connect = opts.connect ?? ((host: string, port: number) => net.connect({ host, port }));
  let active = 0;
  const relay = (host: string, port: number): Promise<Duplex> => {
    if (!allow.allows(host, port)) {
      opts.logger?.warn({ host: String(host).slice(0, 253), port }, 'egress denied');
      return Promise.reject(new CosignerError('ERR_EGRESS_DENIED', `egress to ${String(host).slice(0, 253)}:${port} is not on the allow-list`));
    }
    if (active >= max) return Promise.reject(new CosignerError('ERR_BUSY', `relay at its limit of ${max} connections`));
    active++;
    const sock = connect(host, port);
    let counted = true;
    const release = (): void => {
      if (counted) active--;
      counted = false;
    };
    sock.once('close', release);
    return new Promise<Duplex>((resolve, reject) => {
      const timer = setTimeout(() => fail(new CosignerError('ERR_EGRESS_FAILED', `connect to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
      const fail = (e: CosignerError): void => {
        clearTimeout(timer);
        sock.removeListener('connect', onConnect);
        sock.destroy();
        release();
        reject(e);
      };
      const onError = (err: NodeJS.ErrnoException): void => fail(new CosignerError('ERR_EGRESS_FAILED', `connect to ${host}:${port} failed: ${err.code ?? 'error'}`));
      const onConnect = (): void => {
        clearTimeout(timer);
        sock.removeListener('error', onError);
        sock.setNoDelay(true);
        opts.logger?.debug({ host, port }, 'egress connected');
        resolve(sock);
      };
      sock.once('error', onError);
      sock.once('connect', onConnect);
    });
  };
  Object.defineProperty(relay, 'active', { get: () => active });
  return relay as Relay;
}
