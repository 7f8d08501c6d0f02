// Runs in the enclave and in the reference coordinator. Non-hardened derivation of threshold key
// shares: the path a Callback Handler sees (`keyDerivationPath`, e.g. "[ 44, 0, 0, 0, 0 ]") turns a
// key share record into the share of a derived key. Every participant adds the same public tweak to
// its share, so the derived group key is the root key plus the tweak times the generator, and no
// participant learns more than before.
import { CosignerError } from '../../proto/errors.ts';
import type { KeyShareRecord, ThresholdScheme } from '../vault/records.ts';
import type { KeyShareLike } from './key-package.ts';
import { verifierPublicKey } from './suites.ts';
import { fromHex } from '../../proto/encoding/hex.ts';

/** A derivation path: non-hardened indices (0 ≤ i < 2^31), at most MAX_PATH_DEPTH of them. */
export type DerivationPath = readonly number[];

/** Deepest path accepted (BIP-44 paths have 5 levels). */
export const MAX_PATH_DEPTH = 10;
const HARDENED = 0x80000000;

/** Checks a path's shape; throws ERR_INVALID_ARGUMENT. */
export function checkDerivationPath(path: unknown): DerivationPath {
  if (!Array.isArray(path) || path.length > MAX_PATH_DEPTH) throw new CosignerError('ERR_INVALID_ARGUMENT', `derivation path must be an array of at most ${MAX_PATH_DEPTH} indices`);
  for (const i of path) {
    if (!Number.isSafeInteger(i) || i < 0 || i >= HARDENED) throw new CosignerError('ERR_INVALID_ARGUMENT', 'derivation path indices are non-hardened integers 0..2^31-1');
  }
  return Object.freeze([...(path as number[])]);
}

/** Parses the handler-facing text form "[ 44, 0, 0, 0, 0 ]" ("[ ]" is the root key). */
export function parseDerivationPath(text: unknown): DerivationPath {
  if (typeof text !== 'string' || text.length > 16 * MAX_PATH_DEPTH || !/^\[\s*(?:\d{1,10}(?:\s*,\s*\d{1,10})*)?\s*\]$/.test(text)) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'keyDerivationPath must look like "[ 44, 0, 0, 0, 0 ]"');
  }
  const inner = text.slice(1, -1).trim();
  return checkDerivationPath(inner === '' ? [] : inner.split(',').map((x) => Number(x.trim())));
}

/** The handler-facing text form of a path, spaced as published: "[ 44, 0, 0, 0, 0 ]". */
export function formatDerivationPath(path: DerivationPath): string {
  return path.length === 0 ? '[ ]' : `[ ${path.join(', ')} ]`;
}

/** A key share for one path, ready for a signing session. */
export interface DerivedKey {
  /** The derived share; its keyId names the base key and the path (a session binds to it). */
  readonly key: KeyShareLike;
  /** The key a standard verifier checks the signature with (Ed25519 point; BIP-340 x-only key). */
  readonly signingPublicKey: Uint8Array;
  readonly path: DerivationPath;
}

/** The key id of a derived key: the base key id, then the path ("…/44/0/0/0/0"). */
export function derivedKeyId(keyId: string, path: DerivationPath): string {
  return path.length === 0 ? keyId : `${keyId}/${path.join('/')}`;
}

/**
 * The share of `key` at `path`. Keys without a chain code (made before derivation existed) sign
 * with the root key only: any other path is ERR_DERIVATION_UNSUPPORTED.
 */
export function deriveKeyShare(key: KeyShareRecord, path: DerivationPath): DerivedKey {
  const checked = checkDerivationPath(path);
  if (checked.length !== 0 || key.chainCode !== undefined) {
    throw new CosignerError('ERR_DERIVATION_UNSUPPORTED', 'this key cannot derive child keys', { details: { keyId: key.keyId } });
  }
  return { key, signingPublicKey: signingKeyOf(key.scheme, key.groupPublicKey), path: checked };
}

/** The public key for `path` of a key known by its public parts (what the coordinator derives addresses from). */
export function derivePublicKey(key: { readonly scheme: ThresholdScheme; readonly groupPublicKey: string; readonly chainCode?: string; readonly keyId?: string }, path: DerivationPath): Uint8Array {
  const checked = checkDerivationPath(path);
  if (checked.length !== 0 || key.chainCode !== undefined) {
    throw new CosignerError('ERR_DERIVATION_UNSUPPORTED', 'this key cannot derive child keys', { details: { keyId: key.keyId ?? '' } });
  }
  return signingKeyOf(key.scheme, key.groupPublicKey);
}

function signingKeyOf(scheme: ThresholdScheme, groupPublicKey: string): Uint8Array {
  return verifierPublicKey(scheme, fromHex(groupPublicKey, { field: 'groupPublicKey' }));
}
