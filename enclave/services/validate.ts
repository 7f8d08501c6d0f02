// Runs in the enclave. Strict checks of what the parent sends to the Control service: types, sizes,
// formats. Everything here is hostile input (DESIGN: "treat every byte the parent sends as hostile").
// Deeper, module-specific checks (PEM semantics, token signatures) happen in the modules themselves.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import type { CallbackAuthMode, CallbackSettings } from '../vault/records.ts';
import { CONTROL_LIMITS as L } from './limits.ts';

const AUTH_MODES: readonly CallbackAuthMode[] = ['public-key', 'certificate', 'root-ca', 'public-key+certificate', 'public-key+root-ca'];

function invalid(field: string, why: string): CosignerError {
  return new CosignerError('ERR_INVALID_ARGUMENT', `${field}: ${why}`, { details: { field } });
}

/** A string field: type, length, printable ASCII/UTF-8 without control characters. Empty → ''. */
export function text(value: unknown, field: string, maxChars: number, opts: { required?: boolean; multiline?: boolean } = {}): string {
  if (value === undefined || value === null) value = '';
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  if (value.length > maxChars) throw invalid(field, `longer than ${maxChars} characters`);
  const bad = opts.multiline ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/ : /[\u0000-\u001f\u007f]/;
  if (bad.test(value)) throw invalid(field, 'contains control characters');
  if (opts.required && value.trim() === '') throw invalid(field, 'is required');
  return value.trim();
}

/** An AWS KMS key ARN (or alias ARN); region must be in the ARN's region slot. */
export function kmsKeyArn(value: unknown): string {
  const arn = text(value, 'kms_key_arn', L.maxArnChars, { required: true });
  if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]{1,32}:\d{12}:(key\/[A-Za-z0-9-]{1,128}|alias\/[A-Za-z0-9/_-]{1,250})$/.test(arn)) {
    throw invalid('kms_key_arn', 'is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)');
  }
  return arn;
}

export function region(value: unknown): string {
  const r = text(value, 'region', L.maxRegionChars, { required: true });
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(r)) throw invalid('region', 'is not an AWS region name (e.g. us-east-1)');
  return r;
}

/** host:port (or https://host:port) of a TLS endpoint reached through the relay. */
export function hostPort(value: unknown, field: string): { host: string; port: number; text: string } {
  let s = text(value, field, L.maxUrlChars, { required: true });
  if (s.startsWith('https://')) s = s.slice('https://'.length).replace(/\/$/, '');
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(s);
  if (!m || !m[1] || !m[2]) throw invalid(field, 'must be host:port');
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw invalid(field, 'port out of range');
  return { host: m[1].replace(/^\[|\]$/g, ''), port, text: s };
}

/** An https:// (or, in local mode only, http://) URL. */
export function endpointUrl(value: unknown, field: string, opts: { allowHttp: boolean }): string {
  const s = text(value, field, L.maxUrlChars, { required: true });
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw invalid(field, 'is not a URL');
  }
  if (u.protocol !== 'https:' && !(opts.allowHttp && u.protocol === 'http:')) {
    throw invalid(field, opts.allowHttp ? 'must be http:// or https://' : 'must be https:// (plain http is for local mode only)');
  }
  if (u.username || u.password) throw invalid(field, 'must not carry credentials');
  if (u.search || u.hash) throw invalid(field, 'must not carry a query or fragment');
  return s.replace(/\/+$/, '');
}

/** A PEM public key (SPKI) that Node can parse. */
export function publicKeyPem(value: unknown, field: string): string {
  const pem = text(value, field, L.maxPemChars, { required: true, multiline: true });
  try {
    const k = createPublicKey(pem);
    if (k.type !== 'public') throw new Error('not a public key');
  } catch {
    throw invalid(field, 'is not a PEM public key');
  }
  return pem;
}

/** The workspace owner's key: a PEM Ed25519 public key (owner approvals are Ed25519 signatures). */
export function ownerPublicKeyPem(value: unknown, field: string): string {
  const pem = publicKeyPem(value, field);
  if (createPublicKey(pem).asymmetricKeyType !== 'ed25519') throw invalid(field, 'must be an Ed25519 public key');
  return pem;
}

/** A PEM X.509 certificate that Node can parse. */
export function certificatePem(value: unknown, field: string): string {
  const pem = text(value, field, L.maxPemChars, { required: true, multiline: true });
  try {
    new X509Certificate(pem);
  } catch {
    throw invalid(field, 'is not a PEM certificate');
  }
  return pem;
}

/** The raw shape of a CallbackConfig as it arrives (camelCase). */
export interface CallbackConfigInput {
  url?: unknown;
  authMode?: unknown;
  handlerPublicKeyPem?: unknown;
  certificatePem?: unknown;
  rootCaPem?: unknown;
}

/**
 * Callback Handler settings: undefined when no URL is given (the user has no handler and is approved
 * on the co-signer's own checks). The mode decides which key material is required.
 */
export function callbackSettings(input: CallbackConfigInput | null | undefined, opts: { localMode: boolean }): CallbackSettings | undefined {
  if (!input) return undefined;
  const rawUrl = text(input.url, 'callback.url', L.maxUrlChars);
  const hasMaterial = [input.handlerPublicKeyPem, input.certificatePem, input.rootCaPem].some((v) => typeof v === 'string' && v !== '');
  if (rawUrl === '') {
    if (hasMaterial) throw invalid('callback.url', 'is required when handler keys or certificates are given');
    return undefined;
  }
  const url = endpointUrl(rawUrl, 'callback.url', { allowHttp: opts.localMode });
  const modeText = text(input.authMode, 'callback.auth_mode', 32) || 'public-key';
  if (!(AUTH_MODES as readonly string[]).includes(modeText)) {
    throw invalid('callback.auth_mode', `must be one of ${AUTH_MODES.join(', ')}`);
  }
  const authMode = modeText as CallbackAuthMode;
  const jwt = authMode.startsWith('public-key');
  const pinned = authMode.endsWith('certificate');
  const rooted = authMode.endsWith('root-ca');
  const settings: { -readonly [K in keyof CallbackSettings]: CallbackSettings[K] } = { url, authMode };
  if (jwt) settings.handlerPublicKeyPem = publicKeyPem(input.handlerPublicKeyPem, 'callback.handler_public_key_pem');
  else if (input.handlerPublicKeyPem) throw invalid('callback.handler_public_key_pem', `is not used in ${authMode} mode`);
  if (pinned) settings.certificatePem = certificatePem(input.certificatePem, 'callback.certificate_pem');
  else if (input.certificatePem) throw invalid('callback.certificate_pem', `is not used in ${authMode} mode`);
  if (rooted) settings.rootCaPem = certificatePem(input.rootCaPem, 'callback.root_ca_pem');
  else if (input.rootCaPem) throw invalid('callback.root_ca_pem', `is not used in ${authMode} mode`);
  if ((pinned || rooted) && !url.startsWith('https://')) throw invalid('callback.url', `${authMode} mode needs https://`);
  return settings;
}

/** A pairing token: opaque here (the pairing module verifies its signature), bounded and printable. */
export function pairingToken(value: unknown, opts: { required: boolean }): string {
  const t = text(value, 'pairing_token', L.maxTokenChars, { required: opts.required });
  if (t !== '' && !/^[A-Za-z0-9._~+/=-]+$/.test(t)) throw invalid('pairing_token', 'has characters a token never has');
  return t;
}

export function userId(value: unknown): string {
  const id = text(value, 'user_id', L.maxUserIdChars, { required: true });
  if (!/^[A-Za-z0-9._:@-]+$/.test(id)) throw invalid('user_id', 'has characters a user id never has');
  return id;
}

export function nonce(value: unknown): Uint8Array | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof Uint8Array)) throw invalid('nonce', 'must be bytes');
  if (value.length > L.maxNonceBytes) throw invalid('nonce', `longer than ${L.maxNonceBytes} bytes`);
  return value.length === 0 ? undefined : value;
}

/** A decimal generation number (u64). */
export function generation(value: unknown, field: string): bigint | undefined {
  const s = text(value, field, 20);
  if (s === '') return undefined;
  if (!/^\d{1,20}$/.test(s)) throw invalid(field, 'must be a decimal number');
  const g = BigInt(s);
  if (g > 0xffff_ffff_ffff_ffffn) throw invalid(field, 'out of range');
  return g;
}
