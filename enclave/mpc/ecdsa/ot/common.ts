// Runs in the enclave and in the reference coordinator. Shared pieces of the OT layer: parameters,
// domain-separated hashing, scalar helpers and the two error kinds (a peer caught cheating, a caller
// passing bad arguments). Only @noble primitives are used: no hand-written field, curve or hash code.
import { chacha20 } from '@noble/ciphers/chacha.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { CosignerError } from '../../../../proto/errors.ts';
import type { Rng } from '../ot-api.ts';

/** Computational security parameter κ: number of base OTs per direction, width of the extension. */
export const KAPPA = 128;
/** Statistical security parameter s (DKLs19 §3 gadget encoding; KOS15 check padding). */
export const STAT = 80;
/** ξ = κ_q + 2s choice bits per RVOLE (DKLs19 Protocol 1 encoding, κ_q = 256 = ⌈log2 n⌉). */
export const XI = 256 + 2 * STAT;
/**
 * The consistency check (revised KOS15 §4, Fig. 10) hashes each column in 128-bit blocks: the
 * first CHECK_DATA_BLOCKS cover the ξ rows the RVOLE uses, the last CHECK_MASK_BLOCKS are random
 * rows that only mask the hash (≥ κ + s bits, as Fig. 10's F_{2^{κ+s}} output requires).
 */
export const CHECK_DATA_BLOCKS = 4;
export const CHECK_MASK_BLOCKS = 2;
/** ℓ' extended OTs: the data blocks (≥ ξ rows) and the mask blocks. */
export const OTE_ROWS = (CHECK_DATA_BLOCKS + CHECK_MASK_BLOCKS) * 128;
/** Bytes of one column of the extension matrix (ℓ' bits). */
export const COL_BYTES = OTE_ROWS / 8;
/** Bytes of one row (κ bits). */
export const ROW_BYTES = KAPPA / 8;
/** Bytes of a base-OT seed (κ bits). */
export const SEED_BYTES = KAPPA / 8;

export const N = secp256k1.Point.CURVE().n;
export const G = secp256k1.Point.BASE;
export type Point = InstanceType<typeof secp256k1.Point>;

const enc = new TextEncoder();
const ZERO_NONCE = new Uint8Array(12);
const DOMAIN = 'nitro-cosigner/dkls23-ot/v1/';

/** u32 big-endian. */
export function u32(v: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, v);
  return out;
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Length-prefixed framing of every part, so no two distinct part lists hash the same input. */
function framed(label: string, parts: readonly Uint8Array[]): Uint8Array {
  const all: Uint8Array[] = [];
  for (const p of [enc.encode(DOMAIN + label), ...parts]) all.push(u32(p.length), p);
  return concat(...all);
}

/** SHA-256 under a domain label, over length-framed parts. */
export function hashTagged(label: string, ...parts: readonly Uint8Array[]): Uint8Array {
  return sha256(framed(label, parts));
}

/**
 * H(label, parts; index, data, counter) for the hundreds of rows and columns of one use: the label
 * and parts are hashed once into a 32-byte prefix key, then each call hashes prefix ‖ u32(index) ‖
 * data ‖ counter byte — a fixed-length input (data has one length per hasher) that fits a single
 * SHA-256 block for 16-byte data. One noble SHA-256 instance is reset per call (cloned from an
 * unused one) rather than allocated: the per-call setup cost as much as the compression itself.
 */
export function indexedHash(label: string, dataLen: number, ...parts: readonly Uint8Array[]): (index: number, data: Uint8Array, counter?: number) => Uint8Array {
  const buf = new Uint8Array(32 + 4 + dataLen + 1);
  buf.set(hashTagged(label, ...parts));
  const view = new DataView(buf.buffer);
  const initial = sha256.create();
  const h = sha256.create();
  return (index, data, counter = 0) => {
    if (data.length !== dataLen) throw new CosignerError('ERR_INTERNAL', 'indexed hash input of the wrong length');
    view.setUint32(32, index);
    buf.set(data, 36);
    buf[36 + dataLen] = counter;
    initial._cloneInto(h);
    h.update(buf);
    const out = new Uint8Array(32);
    h.digestInto(out);
    return out;
  };
}

/** PRG: `len` bytes of the ChaCha20 keystream under a 32-byte key used for this one output only. */
export function expand(key: Uint8Array, len: number): Uint8Array {
  return chacha20(key, ZERO_NONCE, new Uint8Array(len));
}

/**
 * A scalar from 32 uniform bytes: n > 2^256 − 2^129, so reducing mod n is within 2^-127 of uniform.
 */
export function scalarFrom32(b: Uint8Array): bigint {
  if (b.length !== 32) throw new CosignerError('ERR_INTERNAL', 'scalarFrom32 takes 32 bytes');
  return bytes32ToBigint(b) % N;
}

export function bytesToBigint(b: Uint8Array): bigint {
  return bytesToNumberBE(b);
}

/** A 32-byte big-endian integer, without the hex round trip (hot path of the RVOLE). */
export function bytes32ToBigint(b: Uint8Array): bigint {
  const v = new DataView(b.buffer, b.byteOffset, 32);
  return (v.getBigUint64(0) << 192n) | (v.getBigUint64(8) << 128n) | (v.getBigUint64(16) << 64n) | v.getBigUint64(24);
}

const MASK64 = (1n << 64n) - 1n;

/** Writes a scalar in [0, n) as 32 bytes big-endian at `off` (hot path of the RVOLE). */
export function writeScalar(out: Uint8Array, off: number, v: bigint): void {
  const d = new DataView(out.buffer, out.byteOffset + off, 32);
  d.setBigUint64(0, v >> 192n);
  d.setBigUint64(8, (v >> 128n) & MASK64);
  d.setBigUint64(16, (v >> 64n) & MASK64);
  d.setBigUint64(24, v & MASK64);
}

/** 32-byte big-endian encoding of a scalar in [0, n). */
export function scalarBytes(v: bigint): Uint8Array {
  return numberToBytesBE(v, 32);
}

export function mod(v: bigint): bigint {
  const r = v % N;
  return r < 0n ? r + N : r;
}

export function rngOf(rng: Rng | undefined): Rng {
  return rng ?? ((n: number) => randomBytes(n));
}

/** A uniform nonzero scalar from the randomness source. */
export function randomScalar(rng: Rng): bigint {
  const b = rng(48);
  if (b.length !== 48) throw new CosignerError('ERR_INTERNAL', 'randomness source returned the wrong length');
  return (bytesToBigint(b) % (N - 1n)) + 1n;
}

export function randomBytesOf(rng: Rng, n: number): Uint8Array {
  const b = rng(n);
  if (b.length !== n) throw new CosignerError('ERR_INTERNAL', 'randomness source returned the wrong length');
  return Uint8Array.from(b);
}

/** The peer failed a check of the protocol: it is to blame, the key needs a refresh. */
export function cheated(peer: number, check: string, what: string): CosignerError {
  return new CosignerError('ERR_PEER_CHEATED', `OT layer: participant ${peer} failed the ${check} check: ${what}`, {
    details: { identifier: peer, check },
  });
}

export function invalidArgument(what: string): CosignerError {
  return new CosignerError('ERR_INVALID_ARGUMENT', `OT layer: ${what}`);
}

/** Participant identifiers are positive u32 and a party never pairs with itself. */
export function checkIds(self: number, peer: number): void {
  const ok = (v: number) => Number.isInteger(v) && v >= 1 && v <= 0xffffffff;
  if (!ok(self) || !ok(peer) || self === peer) throw invalidArgument('participant identifiers must be distinct positive 32-bit integers');
}

/** Constant-pattern comparison (no early exit on the first differing byte). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/**
 * Decodes a compressed point sent by `peer`: on the curve (noble validates) and not the identity,
 * the two properties VSOT's security argument assumes of B and A_j (DKLs18 §5.1).
 */
export function peerPoint(bytes: Uint8Array, peer: number, check: string): Point {
  let p: Point;
  try {
    p = secp256k1.Point.fromBytes(bytes);
  } catch {
    throw cheated(peer, check, 'not a point on secp256k1');
  }
  if (p.equals(secp256k1.Point.ZERO)) throw cheated(peer, check, 'the identity point');
  return p;
}

/** Bytes of one incoming message, checked for exact length and leading tag before any parsing. */
export function expectFrame(msg: Uint8Array | undefined, tag: number, len: number, peer: number): Uint8Array {
  if (!(msg instanceof Uint8Array) || msg.length !== len || msg[0] !== tag) {
    throw cheated(peer, 'malformed', `expected a ${len}-byte message with tag ${tag}`);
  }
  return msg;
}
