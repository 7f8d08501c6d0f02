// Runs in the enclave and in the reference coordinator. OT extension with the consistency check
// of the revised KOS15 (Keller, Orsini, Scholl, ePrint 2015/546, updated 2022: Fig. 10, the
// SoftSpokenOT-style check of Roy, ePrint 2022/192), extending the κ base OTs of the pairwise state
// to ℓ' correlated OTs per use. Every use expands fresh columns with ChaCha20 keyed by SHA-256 of
// the base-OT seed and the use's instance id (setup id, direction, transcript, receiver nonce), so
// one setup serves many RVOLEs without reusing a pad. The check runs on the columns (before the
// transpose): each ℓ'-bit column is hashed to 256 bits with independent Fiat–Shamir challenges
// χ_{k,b} ∈ GF(2^128) (products by @noble/ciphers' GHASH, one block at a time). The original
// KOS15 row-wise check over F_{2^κ} (used here before review) rests on a lemma SoftSpokenOT
// disproved; see docs/ecdsa.md and docs/ecdsa.md.
import { GHASH } from '@noble/ciphers/_polyval.js';
import {
  CHECK_DATA_BLOCKS, CHECK_MASK_BLOCKS, COL_BYTES, KAPPA, OTE_ROWS, ROW_BYTES, SEED_BYTES, bytesEqual, cheated, expand, hashTagged,
  indexedHash, u32,
} from './common.ts';

/** Bytes of the matrix u = κ columns of ℓ' bits. */
export const U_BYTES = KAPPA * COL_BYTES;
/** GF(2^128) block. */
const BLOCK = 16;
/** Bytes of one check value: CHECK_MASK_BLOCKS blocks (256 bits ≥ κ + s). */
export const CHECK_BYTES = CHECK_MASK_BLOCKS * BLOCK;
/** u ‖ x̃ ‖ t̃_0..t̃_{κ-1}: the extension receiver's message. */
export const OTE_MSG_BYTES = U_BYTES + CHECK_BYTES + KAPPA * CHECK_BYTES;

/**
 * Names one extension: setup, direction (receiver → sender), the caller's transcript and the
 * receiver's fresh 32-byte nonce (msg1), so an honest receiver never expands the same pads twice
 * even when a transcript is replayed.
 */
export function instanceIdOf(setupId: Uint8Array, receiver: number, sender: number, transcript: Uint8Array, nonce: Uint8Array): Uint8Array {
  return hashTagged('instance', setupId, u32(receiver), u32(sender), transcript, nonce);
}

type Hasher = (index: number, data: Uint8Array) => Uint8Array;

/**
 * Column j of this use: ChaCha20 keyed by SHA-256(instance, j, ρ_j), ℓ' bits — the same for both
 * holders of a seed, unrelated across instances.
 */
function column(seed: Uint8Array, keyOf: Hasher, j: number): Uint8Array {
  return expand(keyOf(j, seed), COL_BYTES);
}

/** κ columns of ℓ' bits → ℓ' rows of κ bits (row i bit j = column j bit i). */
function transpose(cols: Uint8Array): Uint8Array {
  const rows = new Uint8Array(OTE_ROWS * ROW_BYTES);
  for (let j = 0; j < KAPPA; j++) {
    const base = j * COL_BYTES;
    const rowByte = j >> 3;
    const rowBit = j & 7;
    for (let i = 0; i < OTE_ROWS; i++) {
      const bit = (cols[base + (i >> 3)]! >> (i & 7)) & 1;
      rows[i * ROW_BYTES + rowByte]! |= bit << rowBit;
    }
  }
  return rows;
}

/**
 * Multiplication by one challenge χ in GF(2^128), as GHASH computes it: noble's GHASH keyed by χ,
 * with the accumulator zero before each block (fresh, then cleared after every product), gives χ·X
 * for one block X — the same value as the one-shot `ghash(X, χ)` — while expanding χ's
 * multiplication table once per extension instead of once per product (the table build dominated
 * the check's cost). Words are the little-endian u32s of the block, the layout GHASH's update()
 * and digestInto() use on every host.
 */
export class ChallengeMul extends GHASH {
  constructor(chi: Uint8Array) {
    // The length hint picks a 4-bit window: 32 table lookups per product, a 512-entry table.
    super(chi, 4096);
  }

  /** acc ^= χ·X for the block X at data[off, off + 16). */
  mulXor(data: DataView, off: number, acc: Uint32Array): void {
    this._updateBlock(data.getUint32(off, true), data.getUint32(off + 4, true), data.getUint32(off + 8, true), data.getUint32(off + 12, true));
    acc[0]! ^= this.s0;
    acc[1]! ^= this.s1;
    acc[2]! ^= this.s2;
    acc[3]! ^= this.s3;
    // The product of a secret column does not outlive the call.
    this.s0 = this.s1 = this.s2 = this.s3 = 0;
  }
}

/**
 * The check's challenges χ_{k,b} (k < CHECK_MASK_BLOCKS, b < CHECK_DATA_BLOCKS), uniform and
 * independent, by Fiat–Shamir over the instance and all of u (Fig. 10 "Check correlation" step 1).
 */
export function checkChallenges(instance: Uint8Array, u: Uint8Array): ChallengeMul[] {
  const bytes = expand(hashTagged('ote/check', instance, u), CHECK_MASK_BLOCKS * CHECK_DATA_BLOCKS * BLOCK);
  return Array.from({ length: CHECK_MASK_BLOCKS * CHECK_DATA_BLOCKS }, (_, i) => new ChallengeMul(bytes.subarray(i * BLOCK, (i + 1) * BLOCK)));
}

/**
 * The linear hash of one ℓ'-bit column c (blocks c_0..c_5): for k < 2,
 * h_k(c) = Σ_{b<4} χ_{k,b}·c_b ⊕ c_{4+k} in GF(2^128) — Fig. 10's Σ χ_i·c_i + c_{m+1} with the
 * F_{2^{κ+s}} hash replaced by two independent GF(2^128) ones (256 output bits, 2^-256-universal).
 */
export function columnHash(col: Uint8Array, chi: readonly ChallengeMul[], out: Uint8Array, off: number): void {
  const cv = new DataView(col.buffer, col.byteOffset, col.length);
  const ov = new DataView(out.buffer, out.byteOffset, out.length);
  const acc = new Uint32Array(4);
  for (let k = 0; k < CHECK_MASK_BLOCKS; k++) {
    const mask = (CHECK_DATA_BLOCKS + k) * BLOCK;
    for (let w = 0; w < 4; w++) acc[w] = cv.getUint32(mask + 4 * w, true);
    for (let b = 0; b < CHECK_DATA_BLOCKS; b++) chi[k * CHECK_DATA_BLOCKS + b]!.mulXor(cv, b * BLOCK, acc);
    for (let w = 0; w < 4; w++) ov.setUint32(off + k * BLOCK + 4 * w, acc[w]!, true);
  }
  acc.fill(0);
}

function xorInto(dst: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < dst.length; i++) dst[i]! ^= src[i]!;
}

interface OteReceiverOutput {
  /** u ‖ x̃ ‖ t̃ (OTE_MSG_BYTES). */
  readonly msg: Uint8Array;
  /** t_i, ℓ' rows of κ bits: with the sender's q_i, q_i = t_i ⊕ x_i·Δ. */
  readonly rows: Uint8Array;
}

/**
 * Extension receiver with choice bits x (ℓ' bits, bit i = byte i>>3 bit i&7): u_j = t⁰_j ⊕ t¹_j ⊕ x
 * (KOS15 Fig. 10 "Extend" step 3), then x̃ = h(x) and t̃_j = h(t⁰_j) for every column j ("Check
 * correlation" step 2).
 */
export function oteReceive(senderSeeds: Uint8Array, instance: Uint8Array, x: Uint8Array): OteReceiverOutput {
  const t0 = new Uint8Array(U_BYTES);
  const msg = new Uint8Array(OTE_MSG_BYTES);
  const keyOf = indexedHash('ote/prg', SEED_BYTES, instance);
  for (let j = 0; j < KAPPA; j++) {
    const c0 = column(senderSeeds.subarray(2 * j * SEED_BYTES, (2 * j + 1) * SEED_BYTES), keyOf, j);
    const c1 = column(senderSeeds.subarray((2 * j + 1) * SEED_BYTES, (2 * j + 2) * SEED_BYTES), keyOf, j);
    t0.set(c0, j * COL_BYTES);
    xorInto(c1, c0);
    c0.fill(0);
    xorInto(c1, x);
    msg.set(c1, j * COL_BYTES);
  }
  const chi = checkChallenges(instance, msg.subarray(0, U_BYTES));
  columnHash(x, chi, msg, U_BYTES);
  for (let j = 0; j < KAPPA; j++) columnHash(t0.subarray(j * COL_BYTES, (j + 1) * COL_BYTES), chi, msg, U_BYTES + CHECK_BYTES + j * CHECK_BYTES);
  const rows = transpose(t0);
  t0.fill(0);
  return { msg, rows };
}

/**
 * Extension sender with Δ: q_j = PRG(ρ^{Δ_j}_j) ⊕ Δ_j·u_j (= t⁰_j ⊕ Δ_j·x for an honest receiver),
 * after checking h(q_j) = t̃_j ⊕ Δ_j·x̃ for every column j (Fig. 10 "Check correlation" step 3),
 * then rows q_i = t_i ⊕ x_i·Δ. A receiver that put other choice bits into column j passes that
 * column's check only by guessing Δ_j (one bit, paid for with an abort half the time), or with
 * probability 2^-256 over the challenges.
 */
export function oteSend(delta: Uint8Array, receiverSeeds: Uint8Array, instance: Uint8Array, msg: Uint8Array, peer: number): Uint8Array {
  const u = msg.subarray(0, U_BYTES);
  const xTilde = msg.subarray(U_BYTES, U_BYTES + CHECK_BYTES);
  const q = new Uint8Array(U_BYTES);
  const keyOf = indexedHash('ote/prg', SEED_BYTES, instance);
  const chi = checkChallenges(instance, u);
  const hq = new Uint8Array(CHECK_BYTES);
  let ok = true;
  for (let j = 0; j < KAPPA; j++) {
    const col = column(receiverSeeds.subarray(j * SEED_BYTES, (j + 1) * SEED_BYTES), keyOf, j);
    const expected = msg.slice(U_BYTES + CHECK_BYTES + j * CHECK_BYTES, U_BYTES + CHECK_BYTES + (j + 1) * CHECK_BYTES);
    if ((delta[j >> 3]! >> (j & 7)) & 1) {
      xorInto(col, u.subarray(j * COL_BYTES, (j + 1) * COL_BYTES));
      xorInto(expected, xTilde);
    }
    columnHash(col, chi, hq, 0);
    ok = bytesEqual(hq, expected) && ok;
    q.set(col, j * COL_BYTES);
    col.fill(0);
  }
  hq.fill(0);
  if (!ok) {
    q.fill(0);
    throw cheated(peer, 'ote-consistency', 'the KOS15 correlation check fails');
  }
  const rows = transpose(q);
  q.fill(0);
  return rows;
}
