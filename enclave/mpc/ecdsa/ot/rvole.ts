// Runs in the enclave and in the reference coordinator. Random vector OLE with L = 2 (DKLs23 §3
// Functionality 3.5), instantiated as in DKLs23 by the OT-based multiplication of DKLs19 (ePrint
// 2019/523, §3 Protocol 1) with its consistency check: the receiver ("Bob") encodes random choice
// bits β with the gadget vector g (256 powers of two and 2s public random scalars, so that a
// selective-failure abort leaks nothing about χ = ⟨g, β⟩ beyond s bits of β); the sender ("Alice")
// transfers the correlation (a0, a1, â) on every row; a Fiat–Shamir challenge θ then proves she
// used the same (a0, a1, â) everywhere.
import { CosignerError } from '../../../../proto/errors.ts';
import type { RvoleParams, RvoleReceiver, RvoleSenderResult } from '../ot-api.ts';
import {
  COL_BYTES, N, ROW_BYTES, XI, bytes32ToBigint, bytesEqual, bytesToBigint, cheated, concat, expectFrame, invalidArgument, mod,
  expand, hashTagged, indexedHash, randomBytesOf, randomScalar, rngOf, scalarBytes, scalarFrom32, u32, writeScalar,
} from './common.ts';
import { OTE_MSG_BYTES, instanceIdOf, oteReceive, oteSend } from './extension.ts';
import { MAX_TRANSCRIPT, decodeState } from './pairwise.ts';

const TAG_MSG1 = 0x21;
const TAG_MSG2 = 0x22;
/** Scalars per row: a0, a1 and the check mask â. */
const WIDTH = 3;
const TAU_BYTES = XI * WIDTH * 32;
/** Receiver nonce and sender salt: fresh per RVOLE, so a replayed transcript never repeats pads. */
const NONCE_BYTES = 32;
/** tag ‖ receiver nonce ‖ u ‖ x̃ ‖ t̃. */
export const MSG1_BYTES = 1 + NONCE_BYTES + OTE_MSG_BYTES;
/** tag ‖ sender salt ‖ τ (ξ rows × 3 scalars) ‖ u ‖ H(r_0..r_{ξ-1}). */
export const MSG2_BYTES = 1 + NONCE_BYTES + TAU_BYTES + 32 + 32;

/** g: 2^i for i < 256, then 2s public random scalars (DKLs19 §3.1, "gadget vector" g^R). */
const GADGET: readonly bigint[] = Array.from({ length: XI }, (_, i) =>
  i < 256 ? mod(1n << BigInt(i)) : scalarFrom32(hashTagged('rvole/gadget', u32(i))));

type Hasher = (index: number, data: Uint8Array, counter: number) => Uint8Array;

/**
 * The random-OT message of row i (KOS15 §3 step 4: H(i, q_i) breaks the correlation): three
 * scalars H(instance; i, row, k) for k = 0, 1, 2, one SHA-256 block each.
 */
function rowScalars(hashOf: Hasher, i: number, row: Uint8Array): [bigint, bigint, bigint] {
  return [scalarFrom32(hashOf(i, row, 0)), scalarFrom32(hashOf(i, row, 1)), scalarFrom32(hashOf(i, row, 2))];
}

/**
 * The random-OT hash of this use: keyed by the instance and the sender's fresh salt. The salt is
 * what protects the sender when a malicious receiver replays a transcript (and its nonce): the
 * extension rows then repeat, but v⁰_i, v¹_i do not, so two runs with complementary choice bits no
 * longer give the receiver both messages of a row (and with them a = −(τ + τ')/2).
 */
function rowHasher(instance: Uint8Array, salt: Uint8Array): Hasher {
  return indexedHash('rvole/row', ROW_BYTES, instance, salt);
}

/** θ0, θ1 by Fiat–Shamir over the instance (transcript), msg1, the salt and τ (DKLs19 step 4). */
function challenge(instance: Uint8Array, msg1: Uint8Array, salt: Uint8Array, tau: Uint8Array): [bigint, bigint] {
  const b = expand(hashTagged('rvole/theta', instance, msg1, salt, tau), 64);
  return [scalarFrom32(b.subarray(0, 32)), scalarFrom32(b.subarray(32))];
}

function checkDigest(instance: Uint8Array, r: readonly bigint[]): Uint8Array {
  const buf = new Uint8Array(r.length * 32);
  r.forEach((v, i) => writeScalar(buf, i * 32, v));
  return hashTagged('rvole/check', instance, buf);
}

function bitAt(x: Uint8Array, i: number): number {
  return (x[i >> 3]! >> (i & 7)) & 1;
}

function checkTranscript(t: Uint8Array): void {
  if (!(t instanceof Uint8Array) || t.length === 0 || t.length > MAX_TRANSCRIPT) {
    throw invalidArgument(`transcript must be 1..${MAX_TRANSCRIPT} bytes`);
  }
}

class Receiver implements RvoleReceiver {
  readonly msg1: Uint8Array;
  private secretChi: bigint;
  private x: Uint8Array;
  private rows: Uint8Array;
  private readonly instance: Uint8Array;
  private used = false;
  private aborted = false;

  constructor(private readonly p: RvoleParams) {
    checkTranscript(p.transcript);
    const state = decodeState(p.pairwise, p.self, p.peer);
    const rng = rngOf(p.rng);
    // All ℓ' choice bits random: β is the first ξ, the rest pad the KOS15 check (§4).
    this.x = randomBytesOf(rng, COL_BYTES);
    try {
      const nonce = randomBytesOf(rng, NONCE_BYTES);
      this.instance = instanceIdOf(state.setupId, p.self, p.peer, p.transcript, nonce);
      let chi = 0n;
      for (let i = 0; i < XI; i++) if (bitAt(this.x, i)) chi += GADGET[i]!;
      this.secretChi = chi % N;
      const ote = oteReceive(state.senderSeeds, this.instance, this.x);
      this.rows = ote.rows;
      this.msg1 = concat(Uint8Array.of(TAG_MSG1), nonce, ote.msg);
    } catch (err) {
      // Nothing of a receiver that never came to be may outlive it.
      this.x.fill(0);
      throw err;
    } finally {
      // The decoded copies of the pairwise seeds are needed only for the expansion above.
      state.senderSeeds.fill(0);
      state.receiverSeeds.fill(0);
      state.delta.fill(0);
    }
  }

  /** χ = ⟨g, β⟩; 0n once aborted (a bigint cannot be overwritten, only dropped). */
  get chi(): bigint {
    return this.secretChi;
  }

  finish(msg2: Uint8Array): readonly [bigint, bigint] {
    if (this.aborted) throw new CosignerError('ERR_SESSION_ABORTED', 'RVOLE receiver was aborted');
    if (this.used) throw new CosignerError('ERR_STATE', 'RVOLE receiver already finished');
    this.used = true;
    try {
      return this.check(msg2);
    } finally {
      this.eraseOt();
    }
  }

  abort(): void {
    this.aborted = true;
    this.eraseOt();
    this.secretChi = 0n;
  }

  /** The OT secrets: choice bits β (and the check padding) and the extension rows t_i. */
  private eraseOt(): void {
    this.rows.fill(0);
    this.x.fill(0);
  }

  /** DKLs19 Protocol 1 steps 5-6: d_i = v_{β_i} − β_i·τ_i, checked row by row against u and H(r). */
  private check(msg2: Uint8Array): readonly [bigint, bigint] {
    const peer = this.p.peer;
    const framed = expectFrame(msg2, TAG_MSG2, MSG2_BYTES, peer);
    const salt = framed.subarray(1, 1 + NONCE_BYTES);
    const body = framed.subarray(1 + NONCE_BYTES);
    const tauBytes = body.subarray(0, TAU_BYTES);
    const tau: bigint[] = new Array<bigint>(XI * WIDTH);
    for (let k = 0; k < XI * WIDTH; k++) {
      tau[k] = bytes32ToBigint(tauBytes.subarray(k * 32, k * 32 + 32));
      if (tau[k]! >= N) throw cheated(peer, 'malformed', 'a correlation is not a reduced scalar');
    }
    const u = bytesToBigint(body.subarray(TAU_BYTES, TAU_BYTES + 32));
    if (u >= N) throw cheated(peer, 'malformed', 'u is not a reduced scalar');
    const [t0, t1] = challenge(this.instance, this.msg1, salt, tauBytes);
    const keyOf = rowHasher(this.instance, salt);
    const expected: bigint[] = [];
    let d0 = 0n;
    let d1 = 0n;
    for (let i = 0; i < XI; i++) {
      const v = rowScalars(keyOf, i, this.rows.subarray(i * ROW_BYTES, (i + 1) * ROW_BYTES));
      const beta = bitAt(this.x, i) === 1;
      const e0 = beta ? v[0] - tau[i * WIDTH]! : v[0];
      const e1 = beta ? v[1] - tau[i * WIDTH + 1]! : v[1];
      const e2 = beta ? v[2] - tau[i * WIDTH + 2]! : v[2];
      expected.push(mod((beta ? u : 0n) - t0 * e0 - t1 * e1 - e2));
      d0 += GADGET[i]! * e0;
      d1 += GADGET[i]! * e1;
    }
    if (!bytesEqual(checkDigest(this.instance, expected), body.subarray(TAU_BYTES + 32))) {
      throw cheated(peer, 'rvole-consistency', 'the sender used inconsistent inputs or pads');
    }
    return [mod(d0), mod(d1)];
  }
}

function checkInputs(inputs: readonly [bigint, bigint]): void {
  if (!Array.isArray(inputs) || inputs.length !== 2 || !inputs.every((a) => typeof a === 'bigint' && a >= 0n && a < N)) {
    throw invalidArgument('RVOLE inputs must be two scalars in [0, n)');
  }
}

type SendParams = RvoleParams & { readonly msg1: Uint8Array; readonly inputs: readonly [bigint, bigint] };

/** DKLs19 Protocol 1 steps 3-4 as the sender: τ_i = v¹_i − v⁰_i − (a0, a1, â), c_i = −v⁰_i. */
export function rvoleSend(p: SendParams): RvoleSenderResult {
  return rvoleSendRows(p, (_i, corr) => corr);
}

/**
 * rvoleSend with the correlation of each row passed through `rowCorr`: the identity in production;
 * tests play the sender who transfers different inputs on different rows (the selective-failure
 * attack the consistency check exists for).
 */
export function rvoleSendRows(p: SendParams, rowCorr: (i: number, corr: readonly bigint[]) => readonly bigint[]): RvoleSenderResult {
  checkTranscript(p.transcript);
  checkInputs(p.inputs);
  const state = decodeState(p.pairwise, p.self, p.peer);
  const msg1 = expectFrame(p.msg1, TAG_MSG1, MSG1_BYTES, p.peer);
  const instance = instanceIdOf(state.setupId, p.peer, p.self, p.transcript, msg1.subarray(1, 1 + NONCE_BYTES));
  const rng = rngOf(p.rng);
  const aHat = randomScalar(rng);
  const salt = randomBytesOf(rng, NONCE_BYTES);
  const corr = [p.inputs[0], p.inputs[1], aHat];
  const tauBytes = new Uint8Array(TAU_BYTES);
  const c: bigint[] = new Array<bigint>(XI * WIDTH);
  const flipped = new Uint8Array(ROW_BYTES);
  let rows: Uint8Array | undefined;
  try {
    rows = oteSend(state.delta, state.receiverSeeds, instance, msg1.subarray(1 + NONCE_BYTES), p.peer);
    const keyOf = rowHasher(instance, salt);
    for (let i = 0; i < XI; i++) {
      const q = rows.subarray(i * ROW_BYTES, (i + 1) * ROW_BYTES);
      for (let b = 0; b < ROW_BYTES; b++) flipped[b] = q[b]! ^ state.delta[b]!;
      const v0 = rowScalars(keyOf, i, q);
      const v1 = rowScalars(keyOf, i, flipped);
      const ci = rowCorr(i, corr);
      for (let k = 0; k < WIDTH; k++) {
        writeScalar(tauBytes, (i * WIDTH + k) * 32, mod(v1[k]! - v0[k]! - ci[k]!));
        c[i * WIDTH + k] = N - v0[k]!;
      }
    }
  } finally {
    // The pads (rows q_i, q_i ⊕ Δ) and the decoded pairwise secrets are dead once τ is built,
    // and on a failed KOS15 check as well.
    rows?.fill(0);
    flipped.fill(0);
    state.delta.fill(0);
    state.receiverSeeds.fill(0);
    state.senderSeeds.fill(0);
  }
  const [t0, t1] = challenge(instance, msg1, salt, tauBytes);
  const r: bigint[] = [];
  let c0 = 0n;
  let c1 = 0n;
  for (let i = 0; i < XI; i++) {
    r.push(mod(t0 * c[i * WIDTH]! + t1 * c[i * WIDTH + 1]! + c[i * WIDTH + 2]!));
    c0 += GADGET[i]! * c[i * WIDTH]!;
    c1 += GADGET[i]! * c[i * WIDTH + 1]!;
  }
  const u = mod(t0 * p.inputs[0] + t1 * p.inputs[1] + aHat);
  const msg2 = concat(Uint8Array.of(TAG_MSG2), salt, tauBytes, scalarBytes(u), checkDigest(instance, r));
  return { msg2, c: [mod(c0), mod(c1)] };
}

export function rvoleReceive(p: RvoleParams): RvoleReceiver {
  return new Receiver(p);
}
