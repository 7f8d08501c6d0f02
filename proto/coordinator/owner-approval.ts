// Both sides. The workspace owner's approval of a security-relevant change to a co-signer: pairing
// a new API user (its key shares), changing or removing a user's Callback Handler, removing a user.
// The parent and the operator's CLI may only PROPOSE such changes (DESIGN invariant 9); the enclave
// applies one only with this statement signed by the owner key it sealed at setup. The owner signs on
// their own device; the coordinator merely carries the signature, so neither the parent nor the
// coordinator alone can authorise a change, and the owner key's fingerprint is in the co-signer's
// attested identity (proto/attestation/identity.ts), so neither can swap who approves.
import { createHash, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';

const DOMAIN = Buffer.from('nitro-cosigner/owner-approval/v1\0', 'utf8');

/** The kinds of change that need the owner. */
export const OWNER_CHANGE_KINDS = ['user.activate', 'callback.update', 'user.remove'] as const;
export type OwnerChangeKind = (typeof OWNER_CHANGE_KINDS)[number];

/** What an owner approval signature covers: one exact change of one co-signer, until a deadline. */
export interface OwnerApprovalStatement {
  /** The co-signer the change is for: a signature for one co-signer never applies to another. */
  readonly cosignerId: string;
  /** Id the co-signer gave the proposal (single use). */
  readonly changeId: string;
  readonly kind: OwnerChangeKind;
  /** The API user the change is about. */
  readonly subjectId: string;
  /** SHA-256 hex of the canonical JSON of the change (proto/coordinator/approval-signature.ts canonicalDigest). */
  readonly digest: string;
  /** Milliseconds since the epoch after which the approval is void. */
  readonly expiresAt: number;
  readonly decision: 'approve' | 'reject';
}

function lp(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(b.length, 0);
  return Buffer.concat([h, b]);
}

/** The exact bytes the owner signs. */
export function ownerApprovalBytes(s: OwnerApprovalStatement): Buffer {
  if (!Number.isSafeInteger(s.expiresAt) || s.expiresAt < 0) throw new RangeError('expiresAt must be a non-negative safe integer');
  const at = Buffer.allocUnsafe(8);
  at.writeBigUInt64BE(BigInt(s.expiresAt), 0);
  return Buffer.concat([DOMAIN, lp(s.cosignerId), lp(s.changeId), lp(s.kind), lp(s.subjectId), lp(s.digest), at, lp(s.decision)]);
}

/** Signs an owner approval (Ed25519, base64). Runs on the owner's device (in local mode: the reference coordinator's owner stand-in). */
export function signOwnerApproval(key: KeyObject, s: OwnerApprovalStatement): string {
  return edSign(null, ownerApprovalBytes(s), key).toString('base64');
}

/** Verifies an owner approval signature against the sealed owner key. Never throws. */
export function verifyOwnerApproval(key: KeyObject, s: OwnerApprovalStatement, signatureB64: string): boolean {
  try {
    if (typeof signatureB64 !== 'string' || signatureB64.length > 128) return false;
    const sig = Buffer.from(signatureB64, 'base64');
    if (sig.length !== 64) return false;
    return edVerify(null, ownerApprovalBytes(s), key, sig);
  } catch {
    return false;
  }
}

/** SHA-256 hex of an Ed25519 public key's SPKI DER: how the owner key is named in status, the CLI and the attested identity. */
export function ownerKeyFingerprint(publicKey: KeyObject | string): string {
  const k = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return createHash('sha256').update(k.export({ type: 'spki', format: 'der' })).digest('hex');
}
