// Both sides: the reference coordinator issues pairing tokens, the enclave verifies them against
// the coordinator key fixed at setup. A token is short-lived (at most one hour), single-use (its
// nonce is remembered in the sealed user record) and names the user, the workspace and the key
// that signed it. Format: `nct1.<base64url(JSON claims)>.<base64url(Ed25519 signature)>`, the
// signature covering a domain prefix and the exact claim bytes.
import { createHash, randomBytes, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { CosignerError } from '../errors.ts';

/** Longest lifetime a pairing token may claim. */
export const PAIRING_TOKEN_MAX_LIFETIME_MS = 60 * 60 * 1000;
/** Clock skew tolerated between coordinator and enclave. */
export const PAIRING_TOKEN_SKEW_MS = 60 * 1000;
const MAX_TOKEN_CHARS = 2048;
const DOMAIN = Buffer.from('nitro-cosigner/pairing-token/v1\0', 'utf8');
const NAME_RE = /^[A-Za-z0-9._@-]{1,64}$/;

/** What a pairing token asserts. Times are epoch milliseconds. */
export interface PairingClaims {
  readonly userId: string;
  readonly workspace: string;
  /** Key id of the coordinator key that signed it (see `coordinatorKeyId`). */
  readonly kid: string;
  readonly iat: number;
  readonly exp: number;
  /** 32 random bytes, hex: makes the token single-use. */
  readonly nonce: string;
}

/** Short id of a coordinator public key: first 16 bytes of SHA-256 over its SPKI DER, hex. */
export function coordinatorKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 32);
}

/** Coordinator side: issues a token valid for `lifetimeMs` (default and maximum 1 h). */
export function createPairingToken(
  o: { userId: string; workspace: string; now: number; lifetimeMs?: number },
  key: { privateKey: KeyObject; publicKey: KeyObject },
): { token: string; claims: PairingClaims } {
  if (!NAME_RE.test(o.userId) || !NAME_RE.test(o.workspace)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'userId and workspace must be 1..64 of [A-Za-z0-9._@-]');
  const lifetime = Math.min(o.lifetimeMs ?? PAIRING_TOKEN_MAX_LIFETIME_MS, PAIRING_TOKEN_MAX_LIFETIME_MS);
  const claims: PairingClaims = { userId: o.userId, workspace: o.workspace, kid: coordinatorKeyId(key.publicKey), iat: o.now, exp: o.now + lifetime, nonce: randomBytes(32).toString('hex') };
  const payload = Buffer.from(JSON.stringify(claims), 'utf8');
  const sig = edSign(null, Buffer.concat([DOMAIN, payload]), key.privateKey);
  return { token: `nct1.${payload.toString('base64url')}.${sig.toString('base64url')}`, claims };
}

function invalid(why: string): never {
  throw new CosignerError('ERR_PAIRING_TOKEN_INVALID', `pairing token invalid: ${why}`);
}

/**
 * Enclave side: verifies signature, key id, lifetime, expiry and single use. `isUsed` answers
 * whether a nonce was already accepted (the vault's users, plus any in-flight pairing).
 * Forged/malformed → ERR_PAIRING_TOKEN_INVALID, expired → _EXPIRED, reused → _REUSED.
 */
export function verifyPairingToken(token: unknown, o: { coordinatorKey: KeyObject; now: number; isUsed: (nonce: string) => boolean }): PairingClaims {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) invalid('not a token');
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== 'nct1') invalid('wrong format');
  const b64 = /^[A-Za-z0-9_-]+$/;
  if (!b64.test(parts[1] as string) || !b64.test(parts[2] as string)) invalid('wrong encoding');
  const payload = Buffer.from(parts[1] as string, 'base64url');
  const sig = Buffer.from(parts[2] as string, 'base64url');
  let ok = false;
  try {
    ok = sig.length === 64 && edVerify(null, Buffer.concat([DOMAIN, payload]), o.coordinatorKey, sig);
  } catch {
    ok = false;
  }
  if (!ok) invalid('not signed by the coordinator key fixed at setup');
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch {
    invalid('claims are not JSON');
  }
  if (typeof c !== 'object' || c === null || Object.keys(c).sort().join(',') !== 'exp,iat,kid,nonce,userId,workspace') invalid('unexpected claims');
  const { userId, workspace, kid, iat, exp, nonce } = c;
  if (typeof userId !== 'string' || !NAME_RE.test(userId) || typeof workspace !== 'string' || !NAME_RE.test(workspace)) invalid('bad user or workspace');
  if (kid !== coordinatorKeyId(o.coordinatorKey)) invalid('issued under another coordinator key');
  if (typeof nonce !== 'string' || !/^[0-9a-f]{64}$/.test(nonce)) invalid('bad nonce');
  if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) invalid('bad times');
  if (exp <= iat || exp - iat > PAIRING_TOKEN_MAX_LIFETIME_MS) invalid('lifetime longer than one hour');
  if (iat > o.now + PAIRING_TOKEN_SKEW_MS) invalid('issued in the future');
  if (o.now >= exp) throw new CosignerError('ERR_PAIRING_TOKEN_EXPIRED', 'pairing token expired: ask the coordinator for a new one');
  if (o.isUsed(nonce)) throw new CosignerError('ERR_PAIRING_TOKEN_REUSED', 'pairing token already used');
  return { userId, workspace, kid, iat, exp, nonce };
}
