// Runs in the enclave and in the reference coordinator. The curve side of non-hardened derivation
// (docs/derivation.md): per-level public tweaks for secp256k1 (BIP-32 CKDpub) and Ed25519 (our
// additive scheme; SLIP-10 has no non-hardened Ed25519 derivation) and the BIP-86 key-path tweak.
// Only composition of @noble/curves point and field operations and @noble/hashes HMAC/SHA: no
// field or curve arithmetic is written here.
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberBE, bytesToNumberLE } from '@noble/curves/utils.js';
import { CosignerError } from '../../proto/errors.ts';
import type { ThresholdScheme } from '../vault/records.ts';

import type { IField } from '@noble/curves/abstract/modular.js';

/** The few point operations both curves share (noble's point classes, viewed uniformly). */
interface CurvePoint {
  add(other: CurvePoint): CurvePoint;
  negate(): CurvePoint;
  multiply(k: bigint): CurvePoint;
  is0(): boolean;
  toBytes(compressed?: boolean): Uint8Array;
}
interface Curve {
  fromBytes(bytes: Uint8Array): CurvePoint;
  readonly BASE: CurvePoint;
  readonly Fn: IField<bigint>;
}

/** Domain tags of the Ed25519 scheme (docs/derivation.md): one HMAC for the tweak, one for the chain code. */
const ED_TWEAK_TAG = new TextEncoder().encode('nitro-cosigner/ed25519-ckd/tweak/v1');
const ED_CHAIN_TAG = new TextEncoder().encode('nitro-cosigner/ed25519-ckd/chain/v1');

function unsupported(message: string): never {
  throw new CosignerError('ERR_DERIVATION_UNSUPPORTED', message);
}

function ser32(i: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, i, false);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function curveOf(scheme: ThresholdScheme): Curve {
  return (scheme === 'frost-ed25519' ? ed25519.Point : secp256k1.Point) as unknown as Curve;
}

/** A public key and chain code along a path, with the total scalar tweak added since the root. */
export interface PathState {
  readonly point: CurvePoint;
  readonly chainCode: Uint8Array;
  /** Sum of every level's tweak, mod the group order: share_i(child) = share_i(root) + tweak. */
  readonly tweak: bigint;
}

/**
 * One non-hardened level. secp256k1 is BIP-32 CKDpub exactly: I = HMAC-SHA512(c, serP(K) ‖
 * ser32(i)), IL must be < n, K' = K + IL·G must not be the identity (both fail with probability
 * ≈ 2^-127: ERR_DERIVATION_UNSUPPORTED, as BIP-32 says "proceed with the next index").
 * Ed25519: IL = LE(HMAC-SHA512(c, tag_t ‖ A ‖ ser32(i))) mod ℓ (a wide, unbiased reduction),
 * A' = A + IL·B, c' = first 32 bytes of HMAC-SHA512(c, tag_c ‖ A ‖ ser32(i)).
 */
function childStep(scheme: ThresholdScheme, s: PathState, index: number): PathState {
  const Point = curveOf(scheme);
  const Fn = Point.Fn;
  const data = concat(s.point.toBytes(true), ser32(index));
  let il: bigint;
  let chainCode: Uint8Array;
  if (scheme === 'frost-ed25519') {
    il = Fn.create(bytesToNumberLE(hmac(sha512, s.chainCode, concat(ED_TWEAK_TAG, data))));
    chainCode = hmac(sha512, s.chainCode, concat(ED_CHAIN_TAG, data)).subarray(0, 32);
    if (il === 0n) unsupported('derived tweak is zero at this index');
  } else {
    const I = hmac(sha512, s.chainCode, data);
    il = bytesToNumberBE(I.subarray(0, 32));
    if (!Fn.isValid(il)) unsupported('BIP-32 IL ≥ n at this index');
    chainCode = I.subarray(32);
  }
  const point = il === 0n ? s.point : s.point.add(Point.BASE.multiply(il));
  if (point.is0()) unsupported('derived key is the identity at this index');
  return { point, chainCode: Uint8Array.from(chainCode), tweak: Fn.add(s.tweak, il) };
}

/** Walks `path` from the root key and chain code. */
export function walkPath(scheme: ThresholdScheme, root: Uint8Array, chainCode: Uint8Array, path: readonly number[]): PathState {
  let s: PathState = { point: curveOf(scheme).fromBytes(root), chainCode, tweak: 0n };
  for (const i of path) s = childStep(scheme, s, i);
  return s;
}

/**
 * BIP-341 taproot_tweak_pubkey with an empty script tree (BIP-86) of a compressed internal key:
 * whether the key (and so every share) is negated to even y first, the tweak t, and the output key.
 */
export function bip86Tweak(internal: Uint8Array): { negate: boolean; tweak: bigint; output: Uint8Array } {
  const P = secp256k1.Point.fromBytes(internal);
  const negate = P.toAffine().y % 2n === 1n;
  const even = negate ? P.negate() : P;
  const t = bytesToNumberBE(schnorr.utils.taggedHash('TapTweak', even.toBytes(true).subarray(1)));
  // BIP-341: "if t >= SECP256K1_ORDER: raise ValueError" (probability ≈ 2^-128).
  if (!secp256k1.Point.Fn.isValid(t)) unsupported('BIP-341 TapTweak ≥ n for this key');
  const output = t === 0n ? even : even.add(secp256k1.Point.BASE.multiply(t));
  if (output.is0()) unsupported('taproot output key is the identity');
  return { negate, tweak: t, output: output.toBytes(true) };
}

/** s ↦ (negate ? −s : s) + t, in the scheme's scalar encoding (what FROST share records hold). */
export function tweakScalar(scheme: ThresholdScheme, share: Uint8Array, negate: boolean, t: bigint): Uint8Array {
  const Fn = curveOf(scheme).Fn;
  const s = Fn.fromBytes(share);
  const out = Fn.add(negate ? Fn.neg(s) : s, t);
  if (out === 0n) unsupported('derived share is zero');
  return Fn.toBytes(out);
}

/** V ↦ (negate ? −V : V) + t·G, compressed (verifying shares and group keys). */
export function tweakPoint(scheme: ThresholdScheme, point: Uint8Array, negate: boolean, t: bigint): Uint8Array {
  const Point = curveOf(scheme);
  let p = Point.fromBytes(point);
  if (negate) p = p.negate();
  if (t !== 0n) p = p.add(Point.BASE.multiply(t));
  if (p.is0()) unsupported('derived verifying share is the identity');
  return p.toBytes(true);
}
