// Runs in the enclave. Checks a user's Callback Handler settings before they are sealed or used, and
// decides whether an in-place change is allowed. Swapping the key or certificate that authenticates
// a handler silently would let whoever controls the control socket redirect approvals to a handler
// they run, so such a change needs an explicit operator confirmation and leaves an audit record.
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { CosignerError } from '../../proto/errors.ts';
import { CALLBACK_AUTH_MODES, isCallbackAuthMode, type CallbackAuthMode } from '../../proto/callback-auth-modes.ts';
import type { CallbackSettings } from '../vault/records.ts';

/** RETRY schedule bounds (reference: interval 30 s – 1 h, total up to 48 h). */
export const RETRY_LIMITS = {
  minIntervalMs: 30_000,
  maxIntervalMs: 60 * 60_000,
  maxTotalMs: 48 * 60 * 60_000,
  defaultIntervalMs: 3 * 60_000,
  defaultTotalMs: 60 * 60_000,
} as const;

const MAX_URL_CHARS = 2048;
const MAX_PEM_CHARS = 16 * 1024;

/** The RETRY schedule: wait `intervalMs` between attempts, give up after `totalMs`. */
export interface RetrySchedule {
  readonly intervalMs: number;
  readonly totalMs: number;
}

function invalid(field: string, why: string): CosignerError {
  return new CosignerError('ERR_CONFIG_INVALID', `callback.${field} ${why}`, { details: { field: `callback.${field}` } });
}

/** True for the modes where request and response are compact JWS. */
export function usesJws(mode: CallbackAuthMode): boolean {
  return mode === 'public-key' || mode === 'public-key+certificate' || mode === 'public-key+root-ca';
}

/** How the TLS peer is authenticated in `mode`. */
export function tlsTrust(mode: CallbackAuthMode): 'ca' | 'pin' | 'root' {
  if (mode === 'certificate' || mode === 'public-key+certificate') return 'pin';
  if (mode === 'root-ca' || mode === 'public-key+root-ca') return 'root';
  return 'ca';
}

/** The request path for `kind` in `mode`: `/v2/…` in JWT modes only (reference: Transport). */
export function requestPath(mode: CallbackAuthMode, kind: 'tx_sign_request' | 'config_change_sign_request'): string {
  return usesJws(mode) ? `/v2/${kind}` : `/${kind}`;
}

/** A parsed handler endpoint. `host` has no IPv6 brackets. */
export interface Endpoint {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  /** Base path without a trailing slash ('' for the root). */
  readonly basePath: string;
}

/** Parses and bounds a handler base URL. Plain http only in local mode. */
export function parseEndpoint(url: string, opts: { localMode: boolean }): Endpoint {
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_CHARS) throw invalid('url', `must be 1-${MAX_URL_CHARS} characters`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalid('url', 'is not a URL');
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && opts.localMode)) {
    throw invalid('url', opts.localMode ? 'must be https:// or http://' : 'must be https:// (plain http is for local mode only)');
  }
  if (u.username || u.password) throw invalid('url', 'must not carry credentials');
  if (u.search || u.hash) throw invalid('url', 'must not carry a query or fragment');
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (!host) throw invalid('url', 'has no host');
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('url', 'has a bad port');
  return { secure: u.protocol === 'https:', host, port, basePath: u.pathname.replace(/\/+$/, '') };
}

/** Parses a handler public key; RSA ≥ 2048 bits (RS256) or EC P-256 (ES256) only. */
export function parseHandlerPublicKey(pem: string, field = 'handler_public_key_pem'): { key: KeyObject; alg: 'RS256' | 'ES256' } {
  if (typeof pem !== 'string' || pem.length > MAX_PEM_CHARS || !pem.includes('-----BEGIN PUBLIC KEY-----')) throw invalid(field, 'must be a PEM public key');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw invalid(field, 'is not a readable public key');
  }
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048) return { key, alg: 'RS256' };
  if (key.asymmetricKeyType === 'ec' && d.namedCurve === 'prime256v1') return { key, alg: 'ES256' };
  throw invalid(field, 'must be RSA-2048 or larger (RS256) or EC P-256 (ES256)');
}

/** Parses a PEM certificate. */
export function parseCertificate(pem: string, field: string): X509Certificate {
  if (typeof pem !== 'string' || pem.length > MAX_PEM_CHARS || !pem.includes('-----BEGIN CERTIFICATE-----')) throw invalid(field, 'must be a PEM certificate');
  try {
    return new X509Certificate(pem);
  } catch {
    throw invalid(field, 'is not a readable certificate');
  }
}

/** Hex SHA-256 of the certificate's SubjectPublicKeyInfo: the pin. */
export function spkiSha256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Effective RETRY schedule for `settings` (defaults 3 min × 20), bounded. */
export function retrySchedule(settings: Pick<CallbackSettings, 'retryIntervalMs' | 'retryTotalMs'> | undefined, fallback?: RetrySchedule): RetrySchedule {
  const intervalMs = settings?.retryIntervalMs ?? fallback?.intervalMs ?? RETRY_LIMITS.defaultIntervalMs;
  const totalMs = settings?.retryTotalMs ?? fallback?.totalMs ?? RETRY_LIMITS.defaultTotalMs;
  checkRetry(intervalMs, totalMs);
  return { intervalMs, totalMs };
}

function checkRetry(intervalMs: number, totalMs: number): void {
  if (!Number.isSafeInteger(intervalMs) || intervalMs < RETRY_LIMITS.minIntervalMs || intervalMs > RETRY_LIMITS.maxIntervalMs) {
    throw invalid('retry_interval_ms', `must be between ${RETRY_LIMITS.minIntervalMs} and ${RETRY_LIMITS.maxIntervalMs}`);
  }
  if (!Number.isSafeInteger(totalMs) || totalMs < intervalMs || totalMs > RETRY_LIMITS.maxTotalMs) {
    throw invalid('retry_total_ms', `must be between the interval and ${RETRY_LIMITS.maxTotalMs}`);
  }
}

/**
 * Validates settings for use: URL (scheme, host, port), the key material each mode needs (and none
 * it does not), PEM parsing, RETRY bounds. Throws ERR_CONFIG_INVALID naming the field.
 */
export function validateCallbackSettings(s: CallbackSettings, opts: { localMode: boolean }): CallbackSettings {
  if (!isCallbackAuthMode(s.authMode)) throw invalid('auth_mode', `must be one of ${CALLBACK_AUTH_MODES.join(', ')}`);
  const ep = parseEndpoint(s.url, opts);
  const trust = tlsTrust(s.authMode);
  if (trust !== 'ca' && !ep.secure) throw invalid('url', `${s.authMode} mode needs https://`);
  if (usesJws(s.authMode)) {
    if (!s.handlerPublicKeyPem) throw invalid('handler_public_key_pem', `is required in ${s.authMode} mode`);
    parseHandlerPublicKey(s.handlerPublicKeyPem);
  } else if (s.handlerPublicKeyPem) throw invalid('handler_public_key_pem', `is not used in ${s.authMode} mode`);
  if (trust === 'pin') {
    if (!s.certificatePem) throw invalid('certificate_pem', `is required in ${s.authMode} mode`);
    parseCertificate(s.certificatePem, 'certificate_pem');
  } else if (s.certificatePem) throw invalid('certificate_pem', `is not used in ${s.authMode} mode`);
  if (trust === 'root') {
    if (!s.rootCaPem) throw invalid('root_ca_pem', `is required in ${s.authMode} mode`);
    const ca = parseCertificate(s.rootCaPem, 'root_ca_pem');
    if (!ca.ca) throw invalid('root_ca_pem', 'is not a CA certificate');
  } else if (s.rootCaPem) throw invalid('root_ca_pem', `is not used in ${s.authMode} mode`);
  if (s.retryIntervalMs !== undefined || s.retryTotalMs !== undefined) retrySchedule(s);
  if (isIP(ep.host) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(ep.host)) throw invalid('url', 'has a bad host name');
  return s;
}

/** What `applyCallbackUpdate` writes to the audit log: fingerprints only, never key material. */
export interface CallbackChangeAudit {
  readonly event: 'callback.settings.changed';
  readonly userId: string;
  readonly changed: readonly string[];
  readonly confirmed: boolean;
  readonly before: SettingsFingerprint | null;
  readonly after: SettingsFingerprint | null;
}

/** A non-secret summary of settings (public material is hashed to keep records short). */
export interface SettingsFingerprint {
  readonly url: string;
  readonly authMode: CallbackAuthMode;
  readonly handlerKeySha256?: string;
  readonly certificateSpkiSha256?: string;
  readonly rootCaSha256?: string;
}

function keyFingerprint(pem: string): string {
  return createHash('sha256').update(createPublicKey(pem).export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Fingerprint of settings for audit records and the CLI. */
export function fingerprint(s: CallbackSettings): SettingsFingerprint {
  return {
    url: s.url,
    authMode: s.authMode,
    ...(s.handlerPublicKeyPem ? { handlerKeySha256: keyFingerprint(s.handlerPublicKeyPem) } : {}),
    ...(s.certificatePem ? { certificateSpkiSha256: spkiSha256(new X509Certificate(s.certificatePem)) } : {}),
    ...(s.rootCaPem ? { rootCaSha256: createHash('sha256').update(new X509Certificate(s.rootCaPem).raw).digest('hex') } : {}),
  };
}

/** Result of `applyCallbackUpdate`: structurally the services' CallbackUpdateResult plus the audit record. */
export interface CallbackUpdate {
  readonly settings: CallbackSettings | undefined;
  readonly changed: readonly string[];
  readonly audit: CallbackChangeAudit;
}

/**
 * Decides an in-place change of a user's handler settings. URL and RETRY changes are always
 * allowed. Changing what authenticates the handler (public key, certificate, root CA, auth mode, or
 * removing the handler altogether) needs `confirmed: true`, otherwise ERR_PERMISSION_DENIED tells
 * the operator how to confirm. Adding a handler to a user that had none only tightens the policy
 * and needs no confirmation. The caller logs `audit`.
 */
export function applyCallbackUpdate(
  current: CallbackSettings | undefined,
  next: CallbackSettings | undefined,
  opts: { confirmed: boolean; userId?: string; localMode?: boolean },
): CallbackUpdate {
  if (next) validateCallbackSettings(next, { localMode: opts.localMode ?? false });
  const before = current ? fingerprint(current) : null;
  const after = next ? fingerprint(next) : null;
  const changed: string[] = [];
  const fields = ['url', 'authMode', 'handlerKeySha256', 'certificateSpkiSha256', 'rootCaSha256'] as const;
  for (const f of fields) if ((before?.[f] ?? null) !== (after?.[f] ?? null)) changed.push(f);
  if ((current?.retryIntervalMs ?? null) !== (next?.retryIntervalMs ?? null) || (current?.retryTotalMs ?? null) !== (next?.retryTotalMs ?? null)) changed.push('retry');
  const trustChanged = current !== undefined && (next === undefined || changed.some((f) => f !== 'url' && f !== 'retry'));
  if (trustChanged && !opts.confirmed) {
    const what = next === undefined ? 'removing the Callback Handler' : `changing ${changed.filter((f) => f !== 'url' && f !== 'retry').join(', ')}`;
    throw new CosignerError(
      'ERR_PERMISSION_DENIED',
      `${what} changes who approves this user's transactions; check the new fingerprint with the handler's owner and repeat 'cosigner callback-update' with --confirm`,
      { details: { userId: opts.userId ?? '', changed: changed.join(',') } },
    );
  }
  return {
    settings: next,
    changed,
    audit: { event: 'callback.settings.changed', userId: opts.userId ?? '', changed, confirmed: opts.confirmed, before, after },
  };
}
