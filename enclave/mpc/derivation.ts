// Runs in the enclave and in the reference coordinator. Non-hardened derivation of threshold key
// shares: the path a Callback Handler sees (`keyDerivationPath`, e.g. "[ 44, 0, 0, 0, 0 ]") turns a
// key share record into the share of a derived key. Every participant adds the same public tweak to
// its share, so the derived group key is the root key plus the tweak times the generator, and no
// participant learns more than before.
import { CosignerError } from '../../proto/errors.ts';
import type { KeyShareRecord, ThresholdScheme } from '../vault/records.ts';
import type { KeyShareLike } from './key-package.ts';
import { verifierPublicKey, xOnly } from './suites.ts';
import { fromHex, toHex } from '../../proto/encoding/hex.ts';
import { bip86Tweak, tweakPoint, tweakScalar, walkPath } from './derivation-math.ts';
import { base58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';

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

const CHAIN_CODE_HEX = /^[0-9a-f]{64}$/;
const XPUB_VERSION = 0x0488b21e; // BIP-32 mainnet public
const b58check = base58check(sha256);

type PublicKeyParts = { readonly scheme: ThresholdScheme; readonly groupPublicKey: string; readonly chainCode?: string; readonly keyId?: string };

function unsupported(keyId: string | undefined): never {
  throw new CosignerError('ERR_DERIVATION_UNSUPPORTED', 'this key has no chain code: it signs with its root key only', { details: { keyId: keyId ?? '' } });
}

/**
 * The chain code and root point of a chain-coded key, checked. A malformed one is refused with
 * `code` (ERR_SECRETS_DB_CORRUPT for sealed records): never derive from a half-valid record.
 */
function rootOf(key: PublicKeyParts, code: 'ERR_SECRETS_DB_CORRUPT' | 'ERR_INVALID_ARGUMENT'): { chainCode: Uint8Array; root: Uint8Array } {
  const bad = (why: string): never => {
    throw new CosignerError(code, why, { details: { keyId: key.keyId ?? '' } });
  };
  if (typeof key.chainCode !== 'string' || !CHAIN_CODE_HEX.test(key.chainCode)) bad('chain code must be 64 lowercase hex characters');
  const bytes = key.scheme === 'frost-ed25519' ? 32 : 33;
  let root: Uint8Array = new Uint8Array(0);
  try {
    root = fromHex(key.groupPublicKey, { bytes, field: 'groupPublicKey' });
  } catch {
    bad('group public key is malformed');
  }
  // Either y parity works: BIP-32 steps keep the parity, BIP-86 normalises only the final key
  // (DkgSession stores the even-y internal key; a parent xpub may have odd y).
  return { chainCode: fromHex(key.chainCode as string, { bytes: 32, field: 'chainCode' }), root };
}

/**
 * The share of `key` at `path`. Keys without a chain code (made before derivation existed) sign
 * with the root key only: any other path is ERR_DERIVATION_UNSUPPORTED. For a chain-coded taproot
 * key every path, the root `[]` included, is the BIP-86 output key of the derived internal key.
 * The returned key has no chain code: it cannot be derived further (its group key may be tweaked).
 */
export function deriveKeyShare(key: KeyShareRecord, path: DerivationPath): DerivedKey {
  const checked = checkDerivationPath(path);
  if (key.chainCode === undefined) {
    if (checked.length !== 0) unsupported(key.keyId);
    return { key, signingPublicKey: signingKeyOf(key.scheme, key.groupPublicKey), path: checked };
  }
  const { chainCode, root } = rootOf(key, 'ERR_SECRETS_DB_CORRUPT');
  const walked = walkPath(key.scheme, root, chainCode, checked);
  let group = walked.point.toBytes(true);
  let share = tweakScalar(key.scheme, fromHex(key.secretShare, { bytes: 32, field: 'secretShare' }), false, walked.tweak);
  let shares = Object.entries(key.verifyingShares).map(([id, hex]) => [id, tweakPoint(key.scheme, fromHex(hex, { field: 'verifyingShare' }), false, walked.tweak)] as const);
  if (key.scheme === 'frost-secp256k1-tr') {
    // BIP-86: negate to the even-y internal key if needed, then add the TapTweak to everything.
    const tr = bip86Tweak(group);
    share = tweakScalar(key.scheme, share, tr.negate, tr.tweak);
    shares = shares.map(([id, v]) => [id, tweakPoint(key.scheme, v, tr.negate, tr.tweak)] as const);
    group = tr.output;
  }
  const { chainCode: _dropped, ...base } = key;
  const derived: KeyShareLike = {
    ...base,
    keyId: derivedKeyId(key.keyId, checked),
    secretShare: toHex(share),
    groupPublicKey: toHex(group),
    verifyingShares: Object.fromEntries(shares.map(([id, v]) => [id, toHex(v)])),
  };
  return { key: derived, signingPublicKey: verifierPublicKey(key.scheme, group), path: checked };
}

/**
 * The public key for `path` of a key known by its public parts (what the coordinator derives
 * addresses from): the 32-byte Ed25519 point, or the 32-byte x-only BIP-86 output key.
 */
export function derivePublicKey(key: PublicKeyParts, path: DerivationPath): Uint8Array {
  const checked = checkDerivationPath(path);
  if (key.chainCode === undefined) {
    if (checked.length !== 0) unsupported(key.keyId);
    return signingKeyOf(key.scheme, key.groupPublicKey);
  }
  const internal = deriveInternalKey(key, checked);
  return key.scheme === 'frost-secp256k1-tr' ? xOnly(bip86Tweak(internal).output) : internal;
}

/**
 * The derived key before the taproot tweak: the compressed BIP-32 child public key for
 * frost-secp256k1-tr (a PSBT's tapInternalKey is its x-only form), the Ed25519 point otherwise.
 * Only for chain-coded keys.
 */
export function deriveInternalKey(key: PublicKeyParts, path: DerivationPath): Uint8Array {
  const checked = checkDerivationPath(path);
  if (key.chainCode === undefined) unsupported(key.keyId);
  const { chainCode, root } = rootOf(key, 'ERR_INVALID_ARGUMENT');
  return walkPath(key.scheme, root, chainCode, checked).point.toBytes(true);
}

/**
 * BIP-32 serialisation (mainnet "xpub", depth 0) of a chain-coded secp256k1 key: a taproot key's
 * internal key, or a threshold ECDSA (dkls23-secp256k1) group key, whose paths are plain CKDpub.
 */
export function groupXpub(key: PublicKeyParts): string {
  if (key.scheme !== 'frost-secp256k1-tr' && key.scheme !== 'dkls23-secp256k1') throw new CosignerError('ERR_DERIVATION_UNSUPPORTED', 'only secp256k1 keys have an xpub', { details: { keyId: key.keyId ?? '' } });
  if (key.chainCode === undefined) unsupported(key.keyId);
  const { chainCode, root } = rootOf(key, 'ERR_INVALID_ARGUMENT');
  const out = new Uint8Array(78);
  const view = new DataView(out.buffer);
  view.setUint32(0, XPUB_VERSION, false);
  // depth 0, parent fingerprint 0, child number 0: the root of every derived path.
  out.set(chainCode, 13);
  out.set(root, 45);
  return b58check.encode(out);
}

function signingKeyOf(scheme: ThresholdScheme, groupPublicKey: string): Uint8Array {
  return verifierPublicKey(scheme, fromHex(groupPublicKey, { field: 'groupPublicKey' }));
}
