// Runs in the enclave. Asks an API user's Callback Handler whether to approve or sign a request.
// TLS starts here, over a byte stream the parent relays (Dial), so the parent can drop an approval
// but never read or forge one. Every way an answer can be wrong (late, redirected, unsigned, signed
// by someone else, for another request, unknown action, oversize) ends in a typed CosignerError and
// no signature: the caller signs only on a returned APPROVE.
import http from 'node:http';
import { isIP } from 'node:net';
import { timingSafeEqual, type KeyObject, type X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { CompactSign, compactVerify } from 'jose';
import type pino from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { systemClock, type Clock, type Dial } from '../../proto/ports.ts';
import type { CallbackSettings } from '../vault/records.ts';
import { openTlsTunnel } from '../wire/tls-tunnel.ts';
import { recordCallback } from '../services/signing-stats.ts';
import { recordDecision, cleanReason } from './audit.ts';
import { payloadDigest, serializePayload, MAX_PAYLOAD_BYTES, type ConfigChangeSignRequest, type TxSignRequest } from './payload.ts';
import {
  parseCertificate, parseEndpoint, parseHandlerPublicKey, requestPath, retrySchedule, spkiSha256, tlsTrust, usesJws,
  validateCallbackSettings, type Endpoint, type RetrySchedule,
} from './settings.ts';

/** Default deadline for one handler call (reference: the handler has 30 s). */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** Default cap on a response body. A signed decision is a few hundred bytes. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** What the handler decided, when it lets the caller go on. */
export interface ApprovalDecision {
  /** APPROVE: go ahead. IGNORE: only for purpose 'approve' (dismissed, others decide). */
  readonly action: 'APPROVE' | 'IGNORE';
  /** false when the user has no handler and the co-signer approved on its own checks. */
  readonly handler: boolean;
  readonly reason?: string;
  readonly attempts: number;
  readonly latencyMs: number;
  /** Hex SHA-256 of the exact request payload bytes the handler saw. */
  readonly payloadDigest: string;
}

/** Construction options of CallbackClient. */
export interface CallbackClientOptions {
  readonly dial: Dial;
  /** The co-signer's RSA-2048 identity key: signs requests (RS256). */
  readonly signingKey: KeyObject;
  /** Drives the RETRY schedule (inject a fake in tests). */
  readonly clock?: Clock;
  /** Local mode: plain http:// handler URLs are tolerated (with a warning). */
  readonly localMode?: boolean;
  readonly logger?: pino.Logger;
  /** Deadline per call, dial to last body byte. Default 30 s. */
  readonly callTimeoutMs?: number;
  /** Default RETRY schedule when the user's settings name none (default 3 min × 20). */
  readonly retry?: RetrySchedule;
  readonly maxBodyBytes?: number;
  /** Trust anchors for 'public-key' mode TLS. Default: Node's bundled roots. The local stack passes its CA. */
  readonly caPem?: string | readonly string[];
}

/** A user as the client needs it. */
export interface CallbackUser {
  readonly id: string;
  readonly callback?: CallbackSettings | undefined;
}

type Kind = 'tx_sign_request' | 'config_change_sign_request';

interface HandlerAnswer {
  readonly action: 'APPROVE' | 'REJECT' | 'RETRY' | 'IGNORE';
  readonly reason?: string;
}

const ACTIONS = new Set(['APPROVE', 'REJECT', 'RETRY', 'IGNORE']);
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function fail(code: ConstructorParameters<typeof CosignerError>[0], message: string, details?: Record<string, string | number | boolean>): CosignerError {
  return new CosignerError(code, message, details ? { details } : {});
}

/**
 * The Callback Handler client. One instance serves every user; each `ask` opens its own connection.
 *
 * Outcomes of `ask`: APPROVE (and, for approvals, IGNORE) are returned; everything else throws a
 * CosignerError: REJECT → ERR_CALLBACK_REJECTED (details.reason), IGNORE on a signing request →
 * ERR_CALLBACK_IGNORED, RETRY past the schedule → ERR_CALLBACK_RETRY_EXHAUSTED, and
 * ERR_CALLBACK_TIMEOUT / _HTTP / _TLS / _SIGNATURE / _REQUEST_ID / _MALFORMED for broken answers.
 * A caller that only signs on a returned APPROVE therefore fails closed.
 *
 * @example
 * const client = new CallbackClient({ dial, signingKey, logger });
 * const d = await client.ask(user, 'tx_sign_request', req, { purpose: 'sign' });
 * checkSignedMessagesMatch({ request: req, payloadDigest: d.payloadDigest }, messages);
 */
export class CallbackClient {
  private readonly dial: Dial;
  private readonly signingKey: KeyObject;
  private readonly clock: Clock;
  private readonly localMode: boolean;
  private readonly logger: pino.Logger | undefined;
  private readonly callTimeoutMs: number;
  private readonly retry: RetrySchedule | undefined;
  private readonly maxBodyBytes: number;
  private readonly caPem: string | string[] | undefined;

  constructor(opts: CallbackClientOptions) {
    const d = opts.signingKey.asymmetricKeyDetails;
    if (opts.signingKey.type !== 'private' || opts.signingKey.asymmetricKeyType !== 'rsa' || (d?.modulusLength ?? 0) < 2048) {
      throw new CosignerError('ERR_CONFIG_INVALID', 'the callback signing key must be an RSA private key of at least 2048 bits');
    }
    this.dial = opts.dial;
    this.signingKey = opts.signingKey;
    this.clock = opts.clock ?? systemClock;
    this.localMode = opts.localMode ?? false;
    this.logger = opts.logger;
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    if (!(this.callTimeoutMs > 0 && this.callTimeoutMs <= 120_000)) throw new CosignerError('ERR_CONFIG_INVALID', 'callTimeoutMs must be in (0, 120000]');
    if (opts.retry) retrySchedule(undefined, opts.retry);
    this.retry = opts.retry;
    this.maxBodyBytes = Math.min(opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, 1024 * 1024);
    this.caPem = typeof opts.caPem === 'string' ? opts.caPem : opts.caPem ? [...opts.caPem] : undefined;
  }

  /**
   * Asks `user`'s handler about `payload` and follows RETRY answers on the clock. With no handler
   * configured, returns APPROVE with `handler: false` (the caller still runs its own checks).
   */
  async ask(user: CallbackUser, kind: Kind, payload: TxSignRequest | ConfigChangeSignRequest, opts: { purpose: 'sign' | 'approve'; signal?: AbortSignal }): Promise<ApprovalDecision> {
    const bytes = serializePayload(payload);
    const digest = payloadDigest(bytes);
    const requestId = payload.requestId;
    const started = this.clock.now();
    const audit = { requestId, userId: user.id, kind, purpose: opts.purpose, payloadDigest: digest };
    let attempts = 0;
    /** Set while a handler call is in flight, so a failed call is counted as `error`. */
    let callStarted: number | undefined;
    const elapsed = (): number => Math.max(0, this.clock.now() - started);
    try {
      if (payload.signerId !== user.id) throw fail('ERR_INVALID_ARGUMENT', 'the request names a different API user than the one asked for');
      if ((kind === 'tx_sign_request') !== ('txId' in payload)) throw fail('ERR_INVALID_ARGUMENT', `the payload is not a ${kind}`);
      if (opts.purpose === 'sign' && kind === 'tx_sign_request' && !((payload as TxSignRequest).rawTx?.length)) {
        throw fail('ERR_INVALID_ARGUMENT', 'a signing request must carry the rawTx it signs');
      }
      if (bytes.length > MAX_PAYLOAD_BYTES) throw fail('ERR_LIMIT_EXCEEDED', `request payload larger than ${MAX_PAYLOAD_BYTES} bytes`);
      const settings = user.callback;
      if (!settings) {
        recordDecision(this.logger, { ...audit, action: 'APPROVE', handler: false, attempts: 0, latencyMs: 0 });
        return { action: 'APPROVE', handler: false, attempts: 0, latencyMs: 0, payloadDigest: digest };
      }
      validateCallbackSettings(settings, { localMode: this.localMode });
      const schedule = retrySchedule(settings, this.retry);
      const maxRetries = Math.floor(schedule.totalMs / schedule.intervalMs);
      const jws = usesJws(settings.authMode);
      // Signed once: every RETRY sends the identical request, as handlers expect.
      const body = jws ? Buffer.from(await new CompactSign(bytes).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(this.signingKey), 'ascii') : bytes;
      const target = this.target(settings, kind);
      for (;;) {
        if (opts.signal?.aborted) throw fail('ERR_CANCELLED', 'approval cancelled');
        attempts++;
        callStarted = this.clock.now();
        const raw = await this.call(target, body, jws ? 'text/plain' : 'application/json', opts.signal);
        const answer = await this.readAnswer(settings, raw, requestId);
        // Metrics: every verified answer counts, RETRY included, with this call's latency.
        recordCallback(answer.action, this.clock.now() - callStarted);
        callStarted = undefined;
        if (answer.action === 'RETRY') {
          if (attempts > maxRetries) {
            throw fail('ERR_CALLBACK_RETRY_EXHAUSTED', `the handler answered RETRY ${attempts} times; giving up after ${schedule.totalMs} ms`, { attempts });
          }
          this.logger?.info({ requestId, userId: user.id, attempts, nextInMs: schedule.intervalMs }, 'callback handler asked to retry');
          try {
            await this.clock.sleep(schedule.intervalMs, opts.signal);
          } catch {
            throw fail('ERR_CANCELLED', 'approval cancelled while waiting to retry');
          }
          continue;
        }
        const latencyMs = elapsed();
        if (answer.action === 'REJECT') {
          recordDecision(this.logger, { ...audit, action: 'REJECT', handler: true, reason: answer.reason ?? '', code: 'ERR_CALLBACK_REJECTED', attempts, latencyMs });
          throw fail('ERR_CALLBACK_REJECTED', 'the Callback Handler rejected the request', { reason: answer.reason ?? '', attempts });
        }
        if (answer.action === 'IGNORE' && opts.purpose === 'sign') {
          throw fail('ERR_CALLBACK_IGNORED', 'the Callback Handler answered IGNORE, which is not an answer to a signing request', { attempts });
        }
        recordDecision(this.logger, { ...audit, action: answer.action, handler: true, attempts, latencyMs, ...(answer.reason ? { reason: answer.reason } : {}) });
        return { action: answer.action, handler: true, attempts, latencyMs, payloadDigest: digest, ...(answer.reason ? { reason: answer.reason } : {}) };
      }
    } catch (err) {
      const e = toCosignerError(err, 'ERR_INTERNAL');
      if (callStarted !== undefined) recordCallback('error', this.clock.now() - callStarted);
      if (e.code !== 'ERR_CALLBACK_REJECTED') {
        recordDecision(this.logger, { ...audit, action: 'FAIL', handler: user.callback !== undefined, code: e.code, attempts, latencyMs: elapsed() });
      }
      throw e;
    }
  }

  private target(settings: CallbackSettings, kind: Kind): { ep: Endpoint; path: string; settings: CallbackSettings } {
    const ep = parseEndpoint(settings.url, { localMode: this.localMode });
    if (!ep.secure) this.logger?.warn({ url: settings.url }, 'callback handler reached over plain http: allowed in local mode only, never in production');
    return { ep, path: `${ep.basePath}${requestPath(settings.authMode, kind)}`, settings };
  }

  /** One POST with the per-call deadline; resolves with the 200 response body. */
  private async call(t: { ep: Endpoint; path: string; settings: CallbackSettings }, body: Buffer, contentType: string, outer?: AbortSignal): Promise<Buffer> {
    const ac = new AbortController();
    const timeout = fail('ERR_CALLBACK_TIMEOUT', `the Callback Handler did not answer within ${this.callTimeoutMs} ms`);
    const timer = setTimeout(() => ac.abort(timeout), this.callTimeoutMs);
    const onOuter = (): void => ac.abort(fail('ERR_CANCELLED', 'approval cancelled'));
    if (outer?.aborted) onOuter();
    outer?.addEventListener('abort', onOuter, { once: true });
    const sockets: Duplex[] = [];
    try {
      return await abortable(ac.signal, async () => {
        const sock = t.ep.secure ? await this.openTls(t.ep, t.settings, ac.signal) : await this.openPlain(t.ep, ac.signal);
        sockets.push(sock);
        // The deadline may have passed meanwhile (the finally below may already have run): never
        // send a request after it.
        if (ac.signal.aborted) {
          sock.destroy();
          throw ac.signal.reason;
        }
        return await post(sock, t.ep, t.path, body, contentType, this.maxBodyBytes);
      });
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
      for (const s of sockets) s.destroy();
    }
  }

  /** Local mode's plain http: the relayed stream as it is. */
  private async openPlain(ep: Endpoint, signal: AbortSignal): Promise<Duplex> {
    try {
      return await this.dial(ep.host, ep.port, { signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const why = err instanceof CosignerError ? err.code : (err as NodeJS.ErrnoException).code ?? 'error';
      throw fail('ERR_CALLBACK_HTTP', `could not reach the Callback Handler at ${ep.host}:${ep.port} (${why})`);
    }
  }

  /** TLS over the relayed stream, authenticated per mode, finished before a request byte is sent. */
  private openTls(ep: Endpoint, settings: CallbackSettings, signal: AbortSignal): Promise<Duplex> {
    const trust = tlsTrust(settings.authMode);
    // In pin mode the pin is the only check: the handler's certificate is typically self-signed.
    const pin = trust === 'pin' ? Buffer.from(spkiSha256(parseCertificate(settings.certificatePem ?? '', 'certificate_pem')), 'hex') : undefined;
    const checkPin = (peer: X509Certificate | undefined): CosignerError | undefined => {
      const got = peer ? Buffer.from(spkiSha256(peer), 'hex') : Buffer.alloc(32);
      if (pin && timingSafeEqual(got, pin)) return undefined;
      return fail('ERR_CALLBACK_TLS', 'the Callback Handler presented a certificate whose public key does not match the pinned one (was it renewed with a new key? see `cosigner callback-update`)', { peerSpkiSha256: got.toString('hex') });
    };
    return openTlsTunnel({
      dial: this.dial,
      host: ep.host,
      port: ep.port,
      ...(pin ? { pin: checkPin } : { ca: trust === 'root' ? settings.rootCaPem : this.caPem }),
      // The call's own deadline (and its ERR_CALLBACK_TIMEOUT) normally fires first through `signal`.
      timeoutMs: this.callTimeoutMs,
      signal,
      alpn: ['http/1.1'],
      codes: { timeout: 'ERR_CALLBACK_TIMEOUT', tls: 'ERR_CALLBACK_TLS', dial: 'ERR_CALLBACK_HTTP' },
      peerName: 'the Callback Handler',
    });
  }

  /** Verifies and parses the handler's answer for `requestId`. */
  private async readAnswer(settings: CallbackSettings, raw: Buffer, requestId: string): Promise<HandlerAnswer> {
    let json: Buffer;
    if (usesJws(settings.authMode)) {
      const token = raw.toString('latin1').trim();
      if (!COMPACT_JWS.test(token)) throw fail('ERR_CALLBACK_SIGNATURE', 'the Callback Handler answer is not a signed token (compact JWS expected)');
      const { key, alg } = parseHandlerPublicKey(settings.handlerPublicKeyPem ?? '');
      try {
        // One algorithm, fixed by the configured key's type: no `none`, no HS256-with-the-public-key.
        const { payload } = await compactVerify(token, key, { algorithms: [alg] });
        json = Buffer.from(payload);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'invalid';
        throw fail('ERR_CALLBACK_SIGNATURE', `the Callback Handler answer's signature does not verify with the configured key (${code})`);
      }
    } else {
      json = raw;
    }
    let v: unknown;
    try {
      v = JSON.parse(json.toString('utf8'));
    } catch {
      throw fail('ERR_CALLBACK_MALFORMED', 'the Callback Handler answer is not JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('ERR_CALLBACK_MALFORMED', 'the Callback Handler answer is not a JSON object');
    const o = v as Record<string, unknown>;
    if (typeof o.requestId !== 'string' || o.requestId !== requestId) {
      throw fail('ERR_CALLBACK_REQUEST_ID', 'the Callback Handler answered for a different requestId (it must echo the one it received)');
    }
    if (typeof o.action !== 'string' || !ACTIONS.has(o.action)) throw fail('ERR_CALLBACK_MALFORMED', 'the Callback Handler answered an unknown action');
    if (o.rejectionReason !== undefined && o.rejectionReason !== null && typeof o.rejectionReason !== 'string') {
      throw fail('ERR_CALLBACK_MALFORMED', 'rejectionReason must be a string');
    }
    const reason = cleanReason(o.rejectionReason);
    return { action: o.action as HandlerAnswer['action'], ...(reason ? { reason } : {}) };
  }
}

/** Runs `fn`, rejecting with the signal's reason as soon as it aborts. */
function abortable<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    fn().then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** HTTP/1.1 POST over an established stream; only a 200 with a bounded body counts. Redirects are not followed. */
function post(sock: Duplex, ep: Endpoint, path: string, body: Buffer, contentType: string, maxBody: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const hostHeader = isIP(ep.host) === 6 ? `[${ep.host}]` : ep.host;
    const defaultPort = ep.secure ? 443 : 80;
    const req = http.request({
      method: 'POST',
      path,
      headers: {
        host: ep.port === defaultPort ? hostHeader : `${hostHeader}:${ep.port}`,
        'content-type': contentType,
        'content-length': String(body.length),
        accept: 'application/jwt, application/json, text/plain',
        connection: 'close',
      },
      createConnection: () => sock as unknown as import('node:net').Socket,
    });
    req.on('error', (err) => reject(fail('ERR_CALLBACK_HTTP', `the Callback Handler connection failed: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.resume();
        const redirect = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
        reject(fail('ERR_CALLBACK_HTTP', `the Callback Handler answered HTTP ${status}${redirect}`, { status }));
        return;
      }
      const declared = Number(res.headers['content-length'] ?? '0');
      // Reject before destroy: destroying emits 'aborted' synchronously, which would win the race.
      if (declared > maxBody) {
        reject(fail('ERR_CALLBACK_MALFORMED', `the Callback Handler answer is larger than ${maxBody} bytes`));
        res.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) {
          reject(fail('ERR_CALLBACK_MALFORMED', `the Callback Handler answer is larger than ${maxBody} bytes`));
          res.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', () => reject(fail('ERR_CALLBACK_HTTP', 'the Callback Handler answer was cut off')));
      res.on('aborted', () => reject(fail('ERR_CALLBACK_HTTP', 'the Callback Handler answer was cut off')));
    });
    req.end(body);
  });
}
