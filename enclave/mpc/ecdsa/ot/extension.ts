// Runs in the enclave and in the reference coordinator. OT extension with the KOS15 consistency
// check (Keller, Orsini, Scholl, ePrint 2015/546, §3 Protocol "COTe" + §4 "Check correlation"),
// extending the κ base OTs of the pairwise state to ℓ' correlated OTs per use. Every use expands
// fresh columns with ChaCha20 keyed by SHA-256 of the base-OT seed and the use's instance id (setup id,
// direction, transcript), so one setup serves many RVOLEs without reusing a pad. The check's
// universal hash is the GHASH polynomial of @noble/ciphers (Σ_i H^{ℓ'-i}·row_i over GF(2^128)),
// its key H drawn by Fiat–Shamir over the instance id and the whole matrix u (see docs/ecdsa-ot.md
// for why a polynomial hash is enough: SoftSpokenOT, Roy 2022, §4 generalises the check to any
// linear almost-universal hash).
import { ghash } from '@noble/ciphers/_polyval.js';
import {
  COL_BYTES, KAPPA, OTE_ROWS, ROW_BYTES, SEED_BYTES, bytesEqual, cheated, expand, hashTagged, indexedHash, u32,
} from './common.ts';

/** Bytes of the matrix u = κ columns of ℓ' bits. */
const U_BYTES = KAPPA * COL_BYTES;
/** u ‖ x̃ ‖ t̃: the extension receiver's message. */
export const OTE_MSG_BYTES = U_BYTES + 2 * ROW_BYTES;
/** GF(2^128) one in GHASH's bit order (coefficient of x^0 is the first bit). */
const ONE = Uint8Array.of(0x80, ...new Uint8Array(15));

/** Names one extension: setup, direction (receiver → sender) and the caller's transcript. */
export function instanceIdOf(setupId: Uint8Array, receiver: number, sender: number, transcript: Uint8Array): Uint8Array {
  return hashTagged('instance', setupId, u32(receiver), u32(sender), transcript);
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

/** The check's hash key: Fiat–Shamir over the instance and all of u (KOS15 §4 step 1). */
function checkKey(instance: Uint8Array, u: Uint8Array): Uint8Array {
  return hashTagged('ote/check', instance, u).subarray(0, ROW_BYTES);
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
 * (KOS15 §3 step 2), then x̃ = Σ H^k·x_i and t̃ = Σ H^k·t_i (§4 step 2).
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
    xorInto(c1, x);
    msg.set(c1, j * COL_BYTES);
  }
  const rows = transpose(t0);
  t0.fill(0);
  const key = checkKey(instance, msg.subarray(0, U_BYTES));
  const xBlocks = new Uint8Array(OTE_ROWS * ROW_BYTES);
  for (let i = 0; i < OTE_ROWS; i++) if ((x[i >> 3]! >> (i & 7)) & 1) xBlocks.set(ONE, i * ROW_BYTES);
  msg.set(ghash(xBlocks, key), U_BYTES);
  msg.set(ghash(rows, key), U_BYTES + ROW_BYTES);
  xBlocks.fill(0);
  return { msg, rows };
}

/**
 * Extension sender with Δ: q_j = PRG(ρ^{Δ_j}_j) ⊕ Δ_j·u_j, rows q_i = t_i ⊕ x_i·Δ (KOS15 §3 step 3),
 * after checking q̃ = t̃ ⊕ x̃·Δ (§4 step 3). A receiver that used different x in different columns
 * fails the check except with probability about ℓ'/2^128 per guessed bit of Δ.
 */
export function oteSend(delta: Uint8Array, receiverSeeds: Uint8Array, instance: Uint8Array, msg: Uint8Array, peer: number): Uint8Array {
  const u = msg.subarray(0, U_BYTES);
  const q = new Uint8Array(U_BYTES);
  const keyOf = indexedHash('ote/prg', SEED_BYTES, instance);
  for (let j = 0; j < KAPPA; j++) {
    const col = column(receiverSeeds.subarray(j * SEED_BYTES, (j + 1) * SEED_BYTES), keyOf, j);
    if ((delta[j >> 3]! >> (j & 7)) & 1) xorInto(col, u.subarray(j * COL_BYTES, (j + 1) * COL_BYTES));
    q.set(col, j * COL_BYTES);
  }
  const rows = transpose(q);
  q.fill(0);
  const key = checkKey(instance, u);
  const xTilde = msg.subarray(U_BYTES, U_BYTES + ROW_BYTES);
  const expected = ghash(xTilde, delta);
  xorInto(expected, msg.subarray(U_BYTES + ROW_BYTES, U_BYTES + 2 * ROW_BYTES));
  if (!bytesEqual(ghash(rows, key), expected)) {
    rows.fill(0);
    throw cheated(peer, 'ote-consistency', 'the KOS15 correlation check fails');
  }
  return rows;
}
