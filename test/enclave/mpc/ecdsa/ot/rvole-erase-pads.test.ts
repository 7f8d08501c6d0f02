// Erasure on the RVOLE sender side and of the decoded pairwise secrets: every copy of the sealed
// seeds and Δ that decodeState hands to an RVOLE (either role) and the sender's extension rows q_i
// are zero once the call returns, whether it succeeds or the peer is caught. The two internal
// functions are wrapped (same behaviour) only to keep references to the buffers they return.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { PairwiseState } from '../../../../../enclave/mpc/ecdsa/ot/pairwise.ts';
import { otLayer } from '../../../../../enclave/mpc/ecdsa/ot/index.ts';
import { expectError, flip, runSetup, seededRng, te, type SetupRun } from './helpers.ts';

const seen = vi.hoisted(() => ({ states: [] as unknown[], rows: [] as Uint8Array[] }));

vi.mock('../../../../../enclave/mpc/ecdsa/ot/pairwise.ts', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../../../../enclave/mpc/ecdsa/ot/pairwise.ts')>();
  return {
    ...orig,
    decodeState: (...a: Parameters<typeof orig.decodeState>) => {
      const s = orig.decodeState(...a);
      seen.states.push(s);
      return s;
    },
  };
});
vi.mock('../../../../../enclave/mpc/ecdsa/ot/extension.ts', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../../../../enclave/mpc/ecdsa/ot/extension.ts')>();
  return {
    ...orig,
    oteSend: (...a: Parameters<typeof orig.oteSend>) => {
      const rows = orig.oteSend(...a);
      seen.rows.push(rows);
      return rows;
    },
  };
});

let setup: SetupRun;
beforeAll(() => {
  setup = runSetup({ seed: 'rvole-erase-pads' });
});

const allZero = (b: Uint8Array) => b.every((v) => v === 0);

/** Every secret buffer recorded since `from` is zero (and there was at least one). */
function expectErasedSince(from: { states: number; rows: number }, rows: number): void {
  const states = seen.states.slice(from.states) as PairwiseState[];
  expect(states.length).toBeGreaterThan(0);
  for (const s of states) {
    expect(allZero(s.senderSeeds) && allZero(s.delta) && allZero(s.receiverSeeds)).toBe(true);
  }
  const got = seen.rows.slice(from.rows);
  expect(got.length).toBe(rows);
  expect(got.every(allZero)).toBe(true);
}

const mark = () => ({ states: seen.states.length, rows: seen.rows.length });

function receive(transcript: string) {
  return otLayer.rvoleReceive({ pairwise: setup.state2, transcript: te(transcript), self: 2, peer: 1, rng: seededRng(transcript) });
}
function send(transcript: string, msg1: Uint8Array) {
  return otLayer.rvoleSend({ pairwise: setup.state1, transcript: te(transcript), self: 1, peer: 2, msg1, inputs: [3n, 4n], rng: seededRng(transcript + '/s') });
}

describe('RVOLE pads and pairwise copies are erased', () => {
  it('receiver construction erases its decoded copy of the pairwise state', () => {
    const m = mark();
    receive('pads/recv').abort();
    expectErasedSince(m, 0);
  });

  it('the sender erases its rows q_i and its decoded pairwise state once msg2 is built', () => {
    const recv = receive('pads/ok');
    const m = mark();
    const sent = send('pads/ok', recv.msg1);
    expectErasedSince(m, 1);
    expect(recv.finish(sent.msg2)).toHaveLength(2);
  });

  it('the sender erases its decoded pairwise state when the receiver is caught (KOS15 check)', () => {
    const recv = receive('pads/cheat');
    const m = mark();
    expectError(() => send('pads/cheat', flip(recv.msg1, 100)), 'ERR_PEER_CHEATED', 2, 'ote-consistency');
    expectErasedSince(m, 0);
    recv.abort();
  });
});
