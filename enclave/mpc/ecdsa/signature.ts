// Runs in the enclave and in the reference coordinator. The final ECDSA signature of a DKLs23
// signing run in the forms verifiers want: low-S (BIP-62 / EIP-2), the recovery id Ethereum and
// Bitcoin message signing use, compact r‖s and DER. Composed from @noble/curves' Signature class.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { N, type PointT } from './common.ts';

/** A finished threshold ECDSA signature (plain data: safe to pass between worker threads). */
export interface EcdsaSignature {
  /** 32-byte big-endian r. */
  readonly r: Uint8Array;
  /** 32-byte big-endian s, low-S (s ≤ n/2). */
  readonly s: Uint8Array;
  /** Recovery id 0..3: bit 0 = y parity of R (after low-S), bit 1 = x(R) ≥ n. */
  readonly recovery: number;
  /** r ‖ s, 64 bytes. */
  readonly compact: Uint8Array;
  /** ASN.1 DER SEQUENCE { r, s }. */
  readonly der: Uint8Array;
}

/**
 * The signature (r, s) with nonce point R, normalised to low S. Negating s corresponds to the
 * nonce −k, whose point −R has the other y parity: the recovery bit flips with it.
 */
export function finishSignature(R: PointT, r: bigint, s: bigint): EcdsaSignature {
  const { x, y } = R.toAffine();
  let recovery = (y & 1n ? 1 : 0) | (x >= N ? 2 : 0);
  let sig = new secp256k1.Signature(r, s);
  if (sig.hasHighS()) {
    sig = new secp256k1.Signature(r, N - s);
    recovery ^= 1;
  }
  const compact = sig.toBytes('compact');
  return { r: compact.slice(0, 32), s: compact.slice(32), recovery, compact, der: sig.toBytes('der') };
}

/** Standard verification: low-S compact signature over the 32-byte digest (no prehash). */
export function verifyEcdsa(sig: EcdsaSignature, digest: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return secp256k1.verify(sig.compact, digest, publicKey, { prehash: false, lowS: true, format: 'compact' });
  } catch {
    return false;
  }
}

/** The compressed public key a signature and recovery id recover to for `digest`. */
export function recoverPublicKey(sig: EcdsaSignature, digest: Uint8Array): Uint8Array {
  return secp256k1.Signature.fromBytes(sig.compact, 'compact').addRecoveryBit(sig.recovery).recoverPublicKey(digest).toBytes(true);
}
