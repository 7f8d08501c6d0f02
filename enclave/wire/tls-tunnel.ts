// Runs in the enclave. The one way the enclave opens TLS to the outside world (KMS, the coordinator,
// Callback Handlers): a byte tunnel through the parent's egress relay (the `Dial` port) with TLS
// terminated here, so the parent relays ciphertext it can drop but never read or forge (DESIGN
// invariant 2). Keeping the rules in one place keeps them from drifting apart:
// - SNI is always the configured host name, never an IP literal (RFC 6066 §3; Node refuses one);
//   for an IP literal the certificate must carry that IP as a subjectAltName.
// - TLS 1.2 at least; certificate and host name are always verified, against the caller's trust
//   anchors (a parameter: KMS, the coordinator and root-ca handlers each trust different roots),
//   unless the caller pins the peer's key instead (certificate-mode handlers).
// - One deadline covers the dial and the handshake, and ends in a typed error.
import tls from 'node:tls';
import { isIP } from 'node:net';
import type { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { CosignerError, type ErrorCode } from '../../proto/errors.ts';
import type { Dial } from '../../proto/ports.ts';

/** The codes the tunnel's failures carry, so each caller keeps its own vocabulary. */
export interface TlsTunnelCodes {
  /** The dial + handshake deadline passed. Default ERR_TIMEOUT. */
  readonly timeout?: ErrorCode;
  /** The handshake or certificate check failed. Default ERR_UNAVAILABLE. */
  readonly tls?: ErrorCode;
  /**
   * The Dial port failed. When set, the failure becomes this code with the port's reason in the
   * message; when unset, the port's rejection is passed on unchanged.
   */
  readonly dial?: ErrorCode;
}

export interface TlsTunnelOptions {
  readonly dial: Dial;
  /** Host name or IP literal (IPv6 without brackets), exactly as configured. */
  readonly host: string;
  readonly port: number;
  /** PEM trust anchors. Undefined: Node's bundled CA store. Ignored when `pin` is given. */
  readonly ca?: string | readonly string[] | undefined;
  /**
   * Authenticates the peer by its certificate instead of a CA chain. Runs after the handshake and
   * before the socket is handed back; returning an error destroys the connection.
   */
  readonly pin?: (peer: X509Certificate | undefined) => CosignerError | undefined;
  /** Deadline for dial and handshake together. */
  readonly timeoutMs: number;
  /** Aborting rejects with the signal's reason and destroys whatever was opened. */
  readonly signal?: AbortSignal;
  readonly alpn?: readonly string[];
  readonly codes?: TlsTunnelCodes;
  /** Names the peer in messages, e.g. 'the Callback Handler'. Default host:port. */
  readonly peerName?: string;
}

/** The SNI for `host`: the name itself, or none for an IP literal. */
export function sniFor(host: string): string | undefined {
  return isIP(host) === 0 ? host : undefined;
}

function reasonOf(err: unknown): string {
  if (err instanceof CosignerError) return err.code;
  return (err as NodeJS.ErrnoException | undefined)?.code ?? (err as Error | undefined)?.message ?? 'error';
}

/**
 * Opens a tunnel to host:port through `dial` and completes a verified TLS handshake over it.
 * Resolves with the TLS socket once it is safe to send application bytes.
 *
 * @example
 * const sock = await openTlsTunnel({ dial: ports.dial, host: 'kms.eu-west-1.amazonaws.com', port: 443, ca: roots, timeoutMs: 5_000 });
 */
export function openTlsTunnel(o: TlsTunnelOptions): Promise<tls.TLSSocket> {
  const peer = o.peerName ?? `${o.host}:${o.port}`;
  const details = { host: o.host, port: o.port };
  const ac = new AbortController();
  let raw: Duplex | undefined;
  let sock: tls.TLSSocket | undefined;
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, s?: tls.TLSSocket): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (s) return resolve(s);
      // A Dial that ignores the abort still settles us (bounded); a tunnel turning up later is destroyed.
      ac.abort(err);
      sock?.destroy();
      raw?.destroy();
      reject(err);
    };
    const onAbort = (): void => finish(o.signal?.reason ?? new CosignerError('ERR_CANCELLED', `connection to ${peer} cancelled`));
    const timer = setTimeout(
      () => finish(new CosignerError(o.codes?.timeout ?? 'ERR_TIMEOUT', `no TLS connection to ${peer} within ${o.timeoutMs} ms`, { details })),
      o.timeoutMs,
    );
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    o.dial(o.host, o.port, { signal: ac.signal }).then(
      (r) => {
        if (settled) return void r.destroy();
        raw = r;
        // Request/reply records are small: do not let Nagle hold them back on a TCP stream.
        (r as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
        sock = tls.connect({ ...connectOptions(o), socket: r });
        const s = sock;
        const onError = (err: Error): void => {
          const code = (err as NodeJS.ErrnoException).code;
          // Both: the code for machines, Node's text ("self-signed certificate", "Hostname/IP does not match") for people.
          const why = code && code !== err.message ? `${code} (${err.message})` : err.message;
          finish(new CosignerError(o.codes?.tls ?? 'ERR_UNAVAILABLE', `TLS with ${peer} failed: ${why}`, { details, cause: err }));
        };
        s.once('error', onError);
        s.once('secureConnect', () => {
          s.removeListener('error', onError);
          const refused = o.pin?.(s.getPeerX509Certificate());
          finish(refused, refused ? undefined : s);
        });
      },
      (err: unknown) => {
        if (o.codes?.dial === undefined) return finish(err);
        finish(new CosignerError(o.codes.dial, `could not reach ${peer} at ${o.host}:${o.port} (${reasonOf(err)})`, { details, cause: err }));
      },
    );
  });
}

function connectOptions(o: TlsTunnelOptions): tls.ConnectionOptions {
  const servername = sniFor(o.host);
  const base: tls.ConnectionOptions = {
    host: o.host,
    ...(servername !== undefined ? { servername } : {}),
    minVersion: 'TLSv1.2',
    ...(o.alpn ? { ALPNProtocols: [...o.alpn] } : {}),
  };
  // Pinning is the only check in pin mode: such certificates are typically self-signed.
  if (o.pin) return { ...base, rejectUnauthorized: false };
  return {
    ...base,
    rejectUnauthorized: true,
    ...(o.ca !== undefined ? { ca: typeof o.ca === 'string' ? [o.ca] : [...o.ca] } : {}),
    // Always the configured host (an IP literal is matched against the certificate's IP SANs).
    checkServerIdentity: (_name, cert) => tls.checkServerIdentity(o.host, cert),
  };
}
