// Runs in the enclave and in the reference coordinator. Maps nitro-cosigner scheme names to the
// FROST ciphersuites of @noble/curves (RFC 9591), plus the helpers that turn a suite's output into
// what standard verifiers accept. No FROST arithmetic lives here: it is all @noble/curves'.
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, schnorr_FROST, secp256k1, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { createFROST, type FROST } from '@noble/curves/abstract/frost.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import type { ThresholdScheme } from '../vault/records.ts';

/**
 * A FROST ciphersuite name. `ThresholdScheme` values are the ones a key share can use;
 * `frost-secp256k1` (plain RFC 9591 secp256k1, not BIP-340) exists only so the RFC vectors run
 * through the same code path.
 */
export type SuiteName = FrostScheme | 'frost-secp256k1';

/** The schemes FROST signs; `dkls23-secp256k1` (threshold ECDSA) lives in enclave/mpc/ecdsa/. */
export type FrostScheme = Exclude<ThresholdScheme, 'dkls23-secp256k1'>;

/** Schemes a new API user gets by default at pairing. */
export const DEFAULT_SCHEMES: readonly ThresholdScheme[] = ['frost-ed25519', 'frost-secp256k1-tr', 'dkls23-secp256k1'];

// ---- Ed25519: the same RFC 9591 suite, minus repeated point validation ----
// Profiling showed Ed25519 FROST spending ~70% of its time in isTorsionFree(), a full variable-base
// scalar multiplication: @noble/curves runs it twice per decoded point (DeserializeElement, then
// the suite's validatePoint hook) and decodes the group public key again on every call. The suite
// below is ed25519_FROST's exact definition (name, point, validatePoint, hash, H2) over a point
// class that (a) remembers, per point object, that the subgroup check already passed, and
// (b) returns the already-validated point object for key material that was pinned (group public
// key and verifying shares of key shares in use). Every check still runs on every distinct input:
// a point is only remembered after passing assertValidity, the identity test and isTorsionFree,
// and a failed check is never remembered. Per-session commitments are not pinned: every party
// decodes and checks them itself, as it would in its own process.
const EdPoint = ed25519.Point;
type EdPointT = InstanceType<typeof EdPoint>;
const torsionChecked = new WeakSet<object>();
const PINNED_MAX = 4096;
const pinnedEd = new Map<string, EdPointT>();

// Statics (BASE, ZERO, Fp, Fn, fromAffine, fromHex, …) are inherited; only fromBytes differs.
class CheckedEdPoint extends (EdPoint as unknown as new (X: bigint, Y: bigint, Z: bigint, T: bigint) => EdPointT) {
  static fromBytes(bytes: Uint8Array, zip215 = false): EdPointT {
    if (!zip215 && bytes instanceof Uint8Array && bytes.length === 32) {
      const hit = pinnedEd.get(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
      if (hit) return hit;
    }
    const p = EdPoint.fromBytes(bytes, zip215);
    return new CheckedEdPoint(p.X, p.Y, p.Z, p.T);
  }

  // Points made by arithmetic are plain ed25519 points; generic helpers (MSM) check membership
  // with `instanceof` against the suite's class, so any ed25519 point counts as one of ours.
  static override [Symbol.hasInstance](x: unknown): boolean {
    return x instanceof EdPoint;
  }

  override isTorsionFree(): boolean {
    if (torsionChecked.has(this)) return true;
    const ok = super.isTorsionFree();
    if (ok) torsionChecked.add(this);
    return ok;
  }
}

const ed25519Suite = createFROST({
  name: 'FROST-ED25519-SHA512-v1',
  Point: CheckedEdPoint as unknown as typeof EdPoint,
  validatePoint: (p) => {
    p.assertValidity();
    if (!p.isTorsionFree()) throw new Error('bad point: not torsion-free');
  },
  hash: sha512,
  H2: '',
}) as FROST;

/**
 * Marks a key share record's public point (group public key or verifying share, hex) as validated
 * so later decodes reuse the checked point. Validates it fully first; an invalid point is not
 * pinned (and every FROST call that uses it still fails in the suite's own checks). Bounded.
 */
export function pinKeyPoint(name: SuiteName | 'dkls23-secp256k1', hex: string): void {
  if (name !== 'frost-ed25519' || pinnedEd.has(hex) || hex.length !== 64) return;
  try {
    const p = CheckedEdPoint.fromBytes(Uint8Array.from(Buffer.from(hex, 'hex')));
    p.assertValidity();
    if (p.is0() || !p.isTorsionFree() || p.toHex() !== hex) return;
    if (pinnedEd.size >= PINNED_MAX) pinnedEd.delete(pinnedEd.keys().next().value as string);
    pinnedEd.set(hex, p);
  } catch {
    // not pinned: the suite rejects it when it is used
  }
}

const SUITES: Readonly<Record<SuiteName, FROST>> = {
  'frost-ed25519': ed25519Suite,
  'frost-secp256k1-tr': schnorr_FROST as FROST,
  'frost-secp256k1': secp256k1_FROST as FROST,
};

/** Whether `value` names a scheme a key share may use. */
export function isThresholdScheme(value: unknown): value is ThresholdScheme {
  return value === 'frost-ed25519' || value === 'frost-secp256k1-tr' || value === 'dkls23-secp256k1';
}

/** The @noble/curves FROST suite for `name`; ERR_UNSUPPORTED_SCHEME otherwise. */
export function suiteFor(name: string): FROST {
  if (!Object.prototype.hasOwnProperty.call(SUITES, name)) {
    throw new CosignerError('ERR_UNSUPPORTED_SCHEME', `unsupported threshold scheme`, { details: { scheme: String(name).slice(0, 40) } });
  }
  return SUITES[name as SuiteName];
}

/** Serialized participant identifier for a small positive integer (1..255 here). */
export function identifierOf(suite: FROST, n: number): string {
  return suite.Identifier.fromNumber(n);
}

/** Byte length of a serialized signature for `scheme` (64 for both product schemes). */
export const SIGNATURE_BYTES = 64;

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * Verifies a final signature with a standard, independent verifier: node:crypto Ed25519 for
 * frost-ed25519, BIP-340 `schnorr.verify` for frost-secp256k1-tr. `groupPublicKey` is the hex the
 * key share record stores (32-byte Ed25519 point, 33-byte compressed secp256k1 point).
 */
export function verifyWithStandardVerifier(scheme: ThresholdScheme, groupPublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  try {
    if (scheme === 'frost-ed25519') {
      if (groupPublicKey.length !== 32) return false;
      const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, groupPublicKey]), format: 'der', type: 'spki' });
      return nodeVerify(null, message, key, signature);
    }
    return schnorr.verify(signature, message, xOnly(groupPublicKey));
  } catch {
    return false;
  }
}

/** The BIP-340 x-only form of a secp256k1 key (33-byte compressed or already 32 bytes). */
export function xOnly(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length === 32) return publicKey;
  if (publicKey.length === 33) return publicKey.subarray(1);
  throw new CosignerError('ERR_INVALID_ARGUMENT', 'secp256k1 public key must be 32 or 33 bytes');
}

/** The public key a standard verifier expects for this scheme (x-only for BIP-340). */
export function verifierPublicKey(scheme: ThresholdScheme, groupPublicKey: Uint8Array): Uint8Array {
  return scheme === 'frost-secp256k1-tr' ? xOnly(groupPublicKey) : groupPublicKey;
}

const POINT_BYTES: Readonly<Record<SuiteName | 'dkls23-secp256k1', number>> = { 'frost-ed25519': 32, 'frost-secp256k1-tr': 33, 'frost-secp256k1': 33, 'dkls23-secp256k1': 33 };

/**
 * RFC 9591 §3.1 DeserializeElement as a yes/no answer: on the curve, not the identity, in the
 * prime-order subgroup. The suite runs the same checks again; this one exists so that a bad
 * element can be blamed on the participant who sent it.
 */
export function isValidElement(name: SuiteName | 'dkls23-secp256k1', bytes: Uint8Array): boolean {
  if (bytes.length !== POINT_BYTES[name]) return false;
  try {
    const p = name === 'frost-ed25519' ? ed25519.Point.fromBytes(bytes) : secp256k1.Point.fromBytes(bytes);
    p.assertValidity();
    return !p.is0() && p.isTorsionFree();
  } catch {
    return false;
  }
}
