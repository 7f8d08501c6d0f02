// The pairwise setup (both VSOT directions at once) and its sealed state: consistency of the two
// states, strict parsing, malformed and tampered messages in flight, and misuse of the state machine.
import { beforeAll, describe, expect, it } from 'vitest';
import { KAPPA, SEED_BYTES } from '../../../../../enclave/mpc/ecdsa/ot/common.ts';
import { otLayer } from '../../../../../enclave/mpc/ecdsa/ot/index.ts';
import {
  SETUP_MESSAGE_BYTES, STATE_BYTES, decodeState, encodeState, type PairwiseState,
} from '../../../../../enclave/mpc/ecdsa/ot/pairwise.ts';
import { expectError, flip, runSetup, te, type SetupRun } from './helpers.ts';

let honest: SetupRun;
beforeAll(() => {
  honest = runSetup({ seed: 'pairwise-tests' });
});

const bit = (b: Uint8Array, j: number) => (b[j >> 3]! >> (j & 7)) & 1;
const seed = (s: Uint8Array, k: number) => Buffer.from(s.subarray(k * SEED_BYTES, (k + 1) * SEED_BYTES));

/** Each side's Δ-chosen seeds are the peer's seeds in the same direction. */
function expectPaired(ext: PairwiseState, snd: PairwiseState): void {
  for (let j = 0; j < KAPPA; j++) {
    expect(seed(snd.receiverSeeds, j)).toEqual(seed(ext.senderSeeds, 2 * j + bit(snd.delta, j)));
  }
}

describe('pairwise OT setup', () => {
  it('sends messages of the documented sizes and yields states of the documented size', () => {
    expect(honest.messages.map((m) => m.length)).toEqual(SETUP_MESSAGE_BYTES.flatMap((n) => [n, n]));
    expect(SETUP_MESSAGE_BYTES).toEqual([99, 4225, 4097, 4097, 8193]);
    expect(honest.state1.length).toBe(STATE_BYTES);
    expect(STATE_BYTES).toBe(6201);
  });

  it('pairs the seeds in both directions', () => {
    const s1 = decodeState(honest.state1, 1, 2);
    const s2 = decodeState(honest.state2, 2, 1);
    expect(Buffer.from(s1.setupId)).toEqual(Buffer.from(s2.setupId));
    expectPaired(s1, s2);
    expectPaired(s2, s1);
    expect(Buffer.from(s1.delta)).not.toEqual(Buffer.from(s2.delta));
  });

  it('state round-trips byte for byte', () => {
    const s = decodeState(honest.state1, 1, 2);
    expect(Buffer.from(encodeState(s))).toEqual(Buffer.from(honest.state1));
  });

  it('state parsing is strict: length, version, identifiers', () => {
    const s = honest.state1;
    expectError(() => decodeState(s.subarray(0, s.length - 1), 1, 2), 'ERR_INVALID_ARGUMENT');
    expectError(() => decodeState(new Uint8Array([...s, 0]), 1, 2), 'ERR_INVALID_ARGUMENT');
    expectError(() => decodeState(flip(s, 0, 1), 1, 2), 'ERR_INVALID_ARGUMENT');
    expectError(() => decodeState(s, 2, 1), 'ERR_INVALID_ARGUMENT');
    expectError(() => decodeState(s, 1, 3), 'ERR_INVALID_ARGUMENT');
  });

  it('refuses bad parameters', () => {
    expectError(() => otLayer.pairwiseSetup({ transcript: te('t'), self: 1, peer: 1 }), 'ERR_INVALID_ARGUMENT');
    expectError(() => otLayer.pairwiseSetup({ transcript: te('t'), self: 0, peer: 1 }), 'ERR_INVALID_ARGUMENT');
    expectError(() => otLayer.pairwiseSetup({ transcript: new Uint8Array(0), self: 1, peer: 2 }), 'ERR_INVALID_ARGUMENT');
    expectError(() => otLayer.pairwiseSetup({ transcript: new Uint8Array(4097), self: 1, peer: 2 }), 'ERR_INVALID_ARGUMENT');
  });

  it('enforces the call order and is dead after abort', () => {
    const p = otLayer.pairwiseSetup({ transcript: te('t'), self: 1, peer: 2 });
    expectError(() => p.send(new Uint8Array(99)), 'ERR_INVALID_ARGUMENT');
    expectError(() => p.send(undefined), 'ERR_STATE');
    const q = otLayer.pairwiseSetup({ transcript: te('t'), self: 1, peer: 2 });
    expectError(() => q.finish(new Uint8Array(8193)), 'ERR_STATE');
    const r = otLayer.pairwiseSetup({ transcript: te('t'), self: 1, peer: 2 });
    r.send(undefined);
    r.abort();
    expectError(() => r.send(new Uint8Array(99)), 'ERR_STATE');
  });

  describe('malformed messages are the sender’s fault (ERR_PEER_CHEATED, check "malformed")', () => {
    const cases: [string, (m: Uint8Array) => Uint8Array][] = [
      ['truncated', (m) => m.subarray(0, m.length - 1)],
      ['oversized', (m) => new Uint8Array([...m, 0])],
      ['wrong exchange tag', (m) => flip(m, 0, 3)],
      ['empty', () => new Uint8Array(0)],
    ];
    for (const [name, f] of cases) {
      it(`${name} (exchange 1)`, () => expectError(() => runSetup({ tamper: (from, k, m) => (from === 1 && k === 1 ? f(m) : m) }), 'ERR_PEER_CHEATED', 1, 'malformed'));
    }
    it('truncated last exchange', () => expectError(() => runSetup({ seed: 'pairwise-tests', tamper: (from, k, m) => (from === 2 && k === 5 ? m.subarray(1) : m) }), 'ERR_PEER_CHEATED', 2, 'malformed'));
  });

  it('a proof of DLog from a different setup transcript is rejected (1 checks first and blames 2)', () => {
    expectError(() => runSetup({ transcript2: te('keygen/session-2') }), 'ERR_PEER_CHEATED', 2, 'base-ot-dlog');
  });

  it('a tampered exchange is blamed on its sender (flows the peer checks within the setup)', () => {
    const cases: [number, (m: Uint8Array) => Uint8Array, string][] = [
      [1, (m) => flip(m, 98), 'base-ot-dlog'],
      [2, (m) => flip(m, 1, 2), 'base-ot-point'], // A_0's prefix 0x02/0x03 becomes 0x06/0x07
      [4, (m) => flip(m, 40), 'base-ot-response'],
    ];
    for (const [k, f, check] of cases) {
      expectError(() => runSetup({ seed: 'pairwise-tests', tamper: (from, x, m) => (from === 2 && x === k ? f(m) : m) }), 'ERR_PEER_CHEATED', 2, check);
    }
  });
});
