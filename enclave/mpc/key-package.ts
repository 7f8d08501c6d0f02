// Runs in the enclave and in the reference coordinator. Converts between the sealed key share
// record (numbers and hex, what the vault stores) and the package shapes @noble/curves' FROST uses.
import type { FrostPublic, FrostSecret } from '@noble/curves/abstract/frost.js';
import { CosignerError } from '../../proto/errors.ts';
import type { KeyShareRecord } from '../vault/records.ts';
import { fromHex } from '../../proto/encoding/hex.ts';
import { identifierOf, pinKeyPoint, suiteFor, type SuiteName } from './suites.ts';

/** A key share record whose scheme may also be the vectors-only `frost-secp256k1` suite. */
export type KeyShareLike = Omit<KeyShareRecord, 'scheme'> & { readonly scheme: SuiteName | 'dkls23-secp256k1' };

/** Largest participant count nitro-cosigner accepts for one key (bounds every per-party loop). */
export const MAX_PARTICIPANTS = 16;
/** Identifiers are small positive integers; the co-signer is usually 1. */
export const MAX_IDENTIFIER = 255;

/** Checks threshold/participants/identifier of a key or session description; throws ERR_INVALID_ARGUMENT. */
export function checkParticipants(threshold: number, participants: readonly number[], own?: number): void {
  const bad = (why: string): never => {
    throw new CosignerError('ERR_INVALID_ARGUMENT', `invalid participant set: ${why}`);
  };
  if (!Array.isArray(participants) || participants.length < 2 || participants.length > MAX_PARTICIPANTS) bad('2..16 participants');
  for (const p of participants) if (!Number.isInteger(p) || p < 1 || p > MAX_IDENTIFIER) bad('identifiers are integers 1..255');
  if (new Set(participants).size !== participants.length) bad('duplicate identifier');
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > participants.length) bad('threshold must be 2..n');
  if (own !== undefined && !participants.includes(own)) bad('own identifier not a participant');
}

/** The public FROST package of a key share record. */
export function publicPackage(key: KeyShareLike): FrostPublic {
  const suite = suiteFor(key.scheme);
  const pointBytes = key.scheme === 'frost-ed25519' ? 32 : 33;
  const verifyingShares: Record<string, Uint8Array> = {};
  for (const p of key.participants) {
    const hex = key.verifyingShares[String(p)];
    if (hex === undefined) throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'key share record lacks a verifying share', { details: { keyId: key.keyId } });
    verifyingShares[identifierOf(suite, p)] = fromHex(hex, { bytes: pointBytes, field: 'verifyingShare' });
    pinKeyPoint(key.scheme, hex);
  }
  // Key points are decoded on every signing call; pinning validates them once per process.
  pinKeyPoint(key.scheme, key.groupPublicKey);
  return {
    signers: { min: key.threshold, max: key.participants.length },
    commitments: [fromHex(key.groupPublicKey, { bytes: pointBytes, field: 'groupPublicKey' })],
    verifyingShares,
  } as FrostPublic;
}

/** The secret FROST package of a key share record. Secret: never log the result. */
export function secretPackage(key: KeyShareLike): FrostSecret {
  const suite = suiteFor(key.scheme);
  return { identifier: identifierOf(suite, key.identifier), signingShare: fromHex(key.secretShare, { bytes: 32, field: 'secretShare' }) } as FrostSecret;
}
