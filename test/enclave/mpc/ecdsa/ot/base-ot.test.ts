// VSOT (DKLs18 Protocol 7) one direction at a time, with chosen choice bits so that every check
// can be made to fail on purpose: a malicious sender (identifier 1) or receiver (identifier 2).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { VsotReceiver, VsotSender, type VsotContext } from '../../../../../enclave/mpc/ecdsa/ot/base-ot.ts';
import { KAPPA, SEED_BYTES } from '../../../../../enclave/mpc/ecdsa/ot/common.ts';
import { expectError, flip, seededRng, te } from './helpers.ts';
import { sha256 } from '@noble/hashes/sha2.js';

const N = secp256k1.Point.CURVE().n;
const ctx: VsotContext = { setupId: sha256(te('setup')), sender: 1, receiver: 2 };
/** ω: bit j = 1 for odd j, so j = 0 chooses ρ⁰ and j = 1 chooses ρ¹. */
const CHOICE = new Uint8Array(KAPPA / 8).fill(0xaa);
type Flow = (body: Uint8Array) => Uint8Array;

function run(t: Partial<Record<1 | 2 | 3 | 4 | 5, Flow>> = {}, rctx: VsotContext = ctx) {
  const id: Flow = (m) => m;
  const s = new VsotSender(ctx, seededRng('vsot-s'));
  const r = new VsotReceiver(rctx, CHOICE, seededRng('vsot-r'));
  const f1 = (t[1] ?? id)(s.first());
  const f2 = (t[2] ?? id)(r.choose(f1));
  const f3 = (t[3] ?? id)(s.challenge(f2));
  const f4 = (t[4] ?? id)(r.respond(f3));
  const f5 = (t[5] ?? id)(s.open(f4));
  r.verify(f5);
  return { s: s.seeds!, r: r.seeds! };
}

function offCurveX(): Uint8Array {
  for (let x = 1; ; x++) {
    const b = new Uint8Array(33);
    b[0] = 2;
    b[32] = x;
    try {
      secp256k1.Point.fromBytes(b);
    } catch {
      return b;
    }
  }
}

const otherPoint = secp256k1.Point.BASE.multiply(7n).toBytes(true);
const replace = (at: number, bytes: Uint8Array): Flow => (m) => {
  const o = Uint8Array.from(m);
  o.set(bytes, at);
  return o;
};
const scalar = (v: bigint) => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));

describe('VSOT base OT', () => {
  it('gives the receiver ρ^{ω_j} of the sender’s two seeds, for every j', () => {
    const { s, r } = run();
    for (let j = 0; j < KAPPA; j++) {
      const w = (CHOICE[j >> 3]! >> (j & 7)) & 1;
      const chosen = s.subarray((2 * j + w) * SEED_BYTES, (2 * j + w + 1) * SEED_BYTES);
      const other = s.subarray((2 * j + 1 - w) * SEED_BYTES, (2 * j + 2 - w) * SEED_BYTES);
      expect(Buffer.from(r.subarray(j * SEED_BYTES, (j + 1) * SEED_BYTES))).toEqual(Buffer.from(chosen));
      expect(Buffer.from(chosen)).not.toEqual(Buffer.from(other));
    }
  });

  describe('a malicious sender is caught by the receiver', () => {
    it('B off the curve', () => expectError(() => run({ 1: replace(0, offCurveX()) }), 'ERR_PEER_CHEATED', 1, 'base-ot-point'));
    it('B all zero (the identity has no 33-byte encoding)', () => expectError(() => run({ 1: replace(0, new Uint8Array(33)) }), 'ERR_PEER_CHEATED', 1, 'base-ot-point'));
    it('B swapped for another point (proof no longer verifies)', () => expectError(() => run({ 1: replace(0, otherPoint) }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('proof commitment R swapped', () => expectError(() => run({ 1: replace(33, otherPoint) }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('proof commitment R off the curve', () => expectError(() => run({ 1: replace(33, offCurveX()) }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('proof response z changed', () => expectError(() => run({ 1: (m) => flip(m, 97) }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('proof response z = 0', () => expectError(() => run({ 1: replace(66, scalar(0n)) }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('proof response z = n (not reduced)', () => expectError(() => run({ 1: replace(66, scalar(N)) }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('proof made for another setup', () => expectError(() => run({}, { ...ctx, setupId: sha256(te('other')) }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('proof made for another receiver', () => expectError(() => run({}, { ...ctx, receiver: 3 }), 'ERR_PEER_CHEATED', 1, 'base-ot-dlog'));
    it('challenge ξ_j not H(H(ρ⁰)) ⊕ H(H(ρ¹)) (j with ω_j = 0)', () => expectError(() => run({ 3: (m) => flip(m, 5) }), 'ERR_PEER_CHEATED', 1, 'base-ot-challenge'));
    it('opening of the chosen H(ρ^{ω_j}) changed', () => expectError(() => run({ 5: (m) => flip(m, 0) }), 'ERR_PEER_CHEATED', 1, 'base-ot-opening'));
    it('opening of the other H(ρ^{1-ω_j}) changed', () => expectError(() => run({ 5: (m) => flip(m, 32) }), 'ERR_PEER_CHEATED', 1, 'base-ot-challenge'));
  });

  describe('a malicious receiver is caught by the sender', () => {
    it('A_j off the curve', () => expectError(() => run({ 2: replace(33 * 5, offCurveX()) }), 'ERR_PEER_CHEATED', 2, 'base-ot-point'));
    it('A_j = B (degenerate pad)', () => {
      let B: Uint8Array | undefined;
      expectError(() => run({ 1: (m) => ((B = m.slice(0, 33)), m), 2: (m) => replace(0, B!)(m) }), 'ERR_PEER_CHEATED', 2, 'base-ot-point');
    });
    it('response ρ\'_j wrong', () => expectError(() => run({ 4: (m) => flip(m, 32 * 9 + 3) }), 'ERR_PEER_CHEATED', 2, 'base-ot-response'));
  });
});
