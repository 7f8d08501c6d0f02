// VSOT erasure: a sender that refuses a point half way through flow 3 still holds (and erase()
// zeroes) the seeds it had already derived; a completed run's seeds are zeroed by erase() on both
// sides (the pairwise setup calls it after encoding its state, and on abort).
import { describe, expect, it } from 'vitest';
import { VsotReceiver, VsotSender, type VsotContext } from '../../../../../enclave/mpc/ecdsa/ot/base-ot.ts';
import { KAPPA, SEED_BYTES } from '../../../../../enclave/mpc/ecdsa/ot/common.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { expectError, seededRng, te } from './helpers.ts';

const ctx: VsotContext = { setupId: sha256(te('erase-setup')), sender: 1, receiver: 2 };
const POINT = 33;
const allZero = (b: Uint8Array) => b.every((v) => v === 0);

describe('VSOT erasure', () => {
  it('seeds derived before a refused A_j are held and zeroed by erase()', () => {
    const s = new VsotSender(ctx, seededRng('erase-s'));
    const r = new VsotReceiver(ctx, new Uint8Array(KAPPA / 8).fill(0x5a), seededRng('erase-r'));
    const f1 = s.first();
    const f2 = Uint8Array.from(r.choose(f1));
    // A_5 = B: refused after the seeds of j = 0..4 were derived.
    f2.set(f1.subarray(0, POINT), 5 * POINT);
    expectError(() => s.challenge(f2), 'ERR_PEER_CHEATED', 2, 'base-ot-point');
    const pending = (s as unknown as { seedsPending: Uint8Array | undefined }).seedsPending;
    expect(pending).toBeInstanceOf(Uint8Array);
    expect(allZero((pending as Uint8Array).subarray(0, 5 * 2 * SEED_BYTES))).toBe(false);
    s.erase();
    r.erase();
    expect(allZero(pending as Uint8Array)).toBe(true);
  });

  it('erase() zeroes both sides’ seeds after a completed run', () => {
    const s = new VsotSender(ctx, seededRng('erase-s2'));
    const r = new VsotReceiver(ctx, new Uint8Array(KAPPA / 8).fill(0x33), seededRng('erase-r2'));
    r.verify(s.open(r.respond(s.challenge(r.choose(s.first())))));
    const [ss, rs] = [s.seeds as Uint8Array, r.seeds as Uint8Array];
    expect(allZero(ss) || allZero(rs)).toBe(false);
    s.erase();
    r.erase();
    expect(allZero(ss) && allZero(rs)).toBe(true);
  });
});
