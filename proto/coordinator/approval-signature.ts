// Both sides: the co-signer signs its decision on a transaction or configuration change with the
// user's approval key (Ed25519, sealed in the user record); the coordinator verifies it with the
// public key registered at pairing and counts it in its policy quorum.
import { createHash, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';

const DOMAIN = Buffer.from('nitro-cosigner/approval/v1\0', 'utf8');

/** What an approval signature covers. */
export interface ApprovalStatement {
  readonly kind: 'transaction' | 'config' | 'sign';
  readonly userId: string;
  /** The transaction id or configuration change id the coordinator assigned. */
  readonly subjectId: string;
  /** SHA-256 hex of the canonical payload the decision is about. */
  readonly payloadDigest: string;
  readonly decision: 'approve' | 'reject';
}

function statementBytes(s: ApprovalStatement): Buffer {
  const parts = [s.kind, s.userId, s.subjectId, s.payloadDigest, s.decision].map((p) => {
    const b = Buffer.from(p, 'utf8');
    const h = Buffer.allocUnsafe(4);
    h.writeUInt32BE(b.length, 0);
    return Buffer.concat([h, b]);
  });
  return Buffer.concat([DOMAIN, ...parts]);
}

/** Signs an approval statement (base64 signature). */
export function signApproval(key: KeyObject, s: ApprovalStatement): string {
  return edSign(null, statementBytes(s), key).toString('base64');
}

/** Verifies an approval signature. */
export function verifyApproval(key: KeyObject, s: ApprovalStatement, signatureB64: string): boolean {
  try {
    return edVerify(null, statementBytes(s), key, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/**
 * SHA-256 hex of a JSON value with object keys sorted: how both sides name "the payload that was
 * approved". Bounded by the frame limit of whoever parsed the value.
 */
export function canonicalDigest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}

/** JSON with sorted object keys (no whitespace). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
