// RVOLE (DKLs23 Functionality 3.5 via DKLs19 Protocol 1 over KOS15): correctness over seeded runs
// in both directions, fresh pads per transcript, and every check against a malicious receiver
// (participant 2 sending msg1) and a malicious sender (participant 1 sending msg2).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RvoleParams } from '../../../../../enclave/mpc/ecdsa/ot-api.ts';
import { otLayer } from '../../../../../enclave/mpc/ecdsa/ot/index.ts';
import { MSG1_BYTES, MSG2_BYTES, rvoleSendRows } from '../../../../../enclave/mpc/ecdsa/ot/rvole.ts';
import { expectError, flip, runSetup, seededRng, te, type SetupRun } from './helpers.ts';

const N = secp256k1.Point.CURVE().n;
const U_END = 1 + 128 * 78;
const TAU_END = 1 + 416 * 3 * 32;
let setup: SetupRun;
beforeAll(() => {
  setup = runSetup({ seed: 'rvole-tests' });
});

/** Receiver `r`, sender the other participant, on the shared seeded setup. */
function params(r: 1 | 2, transcript: string, rng?: string): { recv: RvoleParams; send: RvoleParams } {
  const s = r === 1 ? 2 : 1;
  const state = (id: number) => (id === 1 ? setup.state1 : setup.state2);
  return {
    recv: { pairwise: state(r), transcript: te(transcript), self: r, peer: s, ...(rng ? { rng: seededRng(rng + '/r') } : {}) },
    send: { pairwise: state(s), transcript: te(transcript), self: s, peer: r, ...(rng ? { rng: seededRng(rng + '/s') } : {}) },
  };
}

function run(inputs: readonly [bigint, bigint], r: 1 | 2 = 2, transcript = 'sign/1', rng?: string) {
  const p = params(r, transcript, rng);
  const recv = otLayer.rvoleReceive(p.recv);
  const sent = otLayer.rvoleSend({ ...p.send, msg1: recv.msg1, inputs });
  const d = recv.finish(sent.msg2);
  return { recv, sent, d };
}

const rand = (seed: string) => BigInt('0x' + Buffer.from(seededRng(seed)(32)).toString('hex')) % N;

describe('RVOLE correctness', () => {
  it('c + d = a·χ (mod n) over seeded runs, both directions, edge inputs', () => {
    const inputs: [bigint, bigint][] = [[0n, 0n], [N - 1n, N - 1n], [1n, N - 1n], [0n, rand('a')], [rand('b'), rand('c')], [rand('d'), 0n]];
    const chis = new Set<bigint>();
    inputs.forEach((a, k) => {
      for (const r of [1, 2] as const) {
        const { recv, sent, d } = run(a, r, `sign/${k}/${r}`, `corr/${k}/${r}`);
        expect(recv.msg1.length).toBe(MSG1_BYTES);
        expect(sent.msg2.length).toBe(MSG2_BYTES);
        expect((sent.c[0] + d[0]) % N).toBe((a[0] * recv.chi) % N);
        expect((sent.c[1] + d[1]) % N).toBe((a[1] * recv.chi) % N);
        expect(recv.chi > 0n && recv.chi < N).toBe(true);
        chis.add(recv.chi);
      }
    });
    expect(chis.size).toBe(inputs.length * 2);
    expect([MSG1_BYTES, MSG2_BYTES]).toEqual([10017, 40001]);
  });

  it('expands fresh pads per transcript (same choice bits, different u)', () => {
    const a = otLayer.rvoleReceive(params(2, 'sign/x', 'same').recv);
    const b = otLayer.rvoleReceive(params(2, 'sign/y', 'same').recv);
    expect(a.chi).toBe(b.chi);
    expect(Buffer.from(a.msg1.subarray(1, U_END))).not.toEqual(Buffer.from(b.msg1.subarray(1, U_END)));
  });

  it('refuses bad arguments and a second finish', () => {
    const p = params(2, 'sign/args');
    expectError(() => otLayer.rvoleReceive({ ...p.recv, transcript: new Uint8Array(0) }), 'ERR_INVALID_ARGUMENT');
    expectError(() => otLayer.rvoleReceive({ ...p.recv, peer: 3 }), 'ERR_INVALID_ARGUMENT');
    expectError(() => otLayer.rvoleReceive({ ...p.recv, pairwise: p.send.pairwise }), 'ERR_INVALID_ARGUMENT');
    const recv = otLayer.rvoleReceive(p.recv);
    expectError(() => otLayer.rvoleSend({ ...p.send, msg1: recv.msg1, inputs: [N, 0n] }), 'ERR_INVALID_ARGUMENT');
    expectError(() => otLayer.rvoleSend({ ...p.send, msg1: recv.msg1, inputs: [0n, -1n] }), 'ERR_INVALID_ARGUMENT');
    const sent = otLayer.rvoleSend({ ...p.send, msg1: recv.msg1, inputs: [1n, 2n] });
    recv.finish(sent.msg2);
    expectError(() => recv.finish(sent.msg2), 'ERR_STATE');
  });
});

describe('a malicious receiver (msg1) is caught by the KOS15 check', () => {
  const send = (msg1: Uint8Array, transcript = 'sign/m1') => otLayer.rvoleSend({ ...params(2, transcript).send, msg1, inputs: [3n, 4n] });
  let msg1: Uint8Array;
  beforeAll(() => {
    msg1 = otLayer.rvoleReceive(params(2, 'sign/m1').recv).msg1;
  });
  it('the honest msg1 passes', () => expect(send(msg1).msg2.length).toBe(MSG2_BYTES));
  const flips: [string, number][] = [['u, column 0 row 0', 1], ['u, column 127 last rows', U_END - 1], ['u, middle', 5000], ['x̃', U_END + 3], ['t̃', U_END + 16 + 15]];
  for (const [name, at] of flips) {
    it(`flipped bit in ${name}`, () => expectError(() => send(flip(msg1, at)), 'ERR_PEER_CHEATED', 2, 'ote-consistency'));
  }
  it('garbage of the right length and tag', () => {
    const g = seededRng('garbage')(MSG1_BYTES);
    g[0] = msg1[0]!;
    expectError(() => send(g), 'ERR_PEER_CHEATED', 2, 'ote-consistency');
  });
  it('truncated, oversized, wrong tag: malformed', () => {
    expectError(() => send(msg1.subarray(0, MSG1_BYTES - 1)), 'ERR_PEER_CHEATED', 2, 'malformed');
    expectError(() => send(new Uint8Array([...msg1, 0])), 'ERR_PEER_CHEATED', 2, 'malformed');
    expectError(() => send(flip(msg1, 0)), 'ERR_PEER_CHEATED', 2, 'malformed');
  });
  it('replayed under another transcript', () => expectError(() => send(msg1, 'sign/other'), 'ERR_PEER_CHEATED', 2, 'ote-consistency'));
  it('replayed in the other direction of the same pair and transcript', () => {
    const back = params(1, 'sign/m1').send; // participant 2 as sender, 1 as receiver
    expectError(() => otLayer.rvoleSend({ ...back, msg1, inputs: [3n, 4n] }), 'ERR_PEER_CHEATED', 1, 'ote-consistency');
  });
});

describe('a malicious sender (msg2) is caught by the DKLs19 check', () => {
  const fresh = (transcript = 'sign/m2') => {
    const p = params(2, transcript, 'm2');
    const recv = otLayer.rvoleReceive(p.recv);
    return { p, recv, msg2: otLayer.rvoleSend({ ...p.send, msg1: recv.msg1, inputs: [5n, 6n] }).msg2 };
  };
  /** Last byte of scalar k of row i of τ. */
  const tauByte = (i: number, k: number) => 1 + (i * 3 + k) * 32 + 31;
  const cases: [string, number][] = [
    ['τ row 0, a0', tauByte(0, 0)], ['τ row 0, a1', tauByte(0, 1)], ['τ row 0, â', tauByte(0, 2)],
    ['τ row 415, a0', tauByte(415, 0)], ['τ row 415, a1', tauByte(415, 1)], ['τ row 415, â', tauByte(415, 2)],
    ['u', TAU_END + 31], ['check digest', TAU_END + 32 + 7],
  ];
  for (const [name, at] of cases) {
    it(`flipped bit in ${name}`, () => {
      const { recv, msg2 } = fresh();
      expectError(() => recv.finish(flip(msg2, at)), 'ERR_PEER_CHEATED', 1, 'rvole-consistency');
    });
  }
  it('unreduced scalars and wrong lengths are malformed', () => {
    const big = (at: number) => {
      const { recv, msg2 } = fresh();
      const m = Uint8Array.from(msg2);
      m.fill(0xff, at, at + 32);
      expectError(() => recv.finish(m), 'ERR_PEER_CHEATED', 1, 'malformed');
    };
    big(1);
    big(TAU_END);
    for (const bad of [(m: Uint8Array) => m.subarray(1), (m: Uint8Array) => new Uint8Array([...m, 1]), (m: Uint8Array) => flip(m, 0, 4)]) {
      const { recv, msg2 } = fresh();
      expectError(() => recv.finish(bad(msg2)), 'ERR_PEER_CHEATED', 1, 'malformed');
    }
  });
  it('garbage of the right length and tag', () => {
    const { recv, msg2 } = fresh();
    const g = seededRng('garbage2')(MSG2_BYTES);
    g[0] = msg2[0]!;
    expectError(() => recv.finish(g), 'ERR_PEER_CHEATED', 1, 'rvole-consistency');
  });
  it('replayed under another transcript', () => {
    const a = fresh('sign/r1');
    const b = fresh('sign/r2');
    expectError(() => b.recv.finish(a.msg2), 'ERR_PEER_CHEATED', 1, 'rvole-consistency');
  });
  it('inputs differing across rows (selective failure) abort exactly when the row’s choice bit is 1', () => {
    // The receiver's first draw is its ℓ' choice bits; β_i is bit i.
    const x = seededRng('m2/r')(78);
    const outcomes = new Set<number>();
    for (const i of [0, 1, 2, 3, 4, 5, 6, 7]) {
      const { p, recv } = fresh(`sign/sf/${i}`);
      const sent = rvoleSendRows({ ...p.send, msg1: recv.msg1, inputs: [5n, 6n] }, (row, c) => (row === i ? [c[0]! + 1n, c[1]!, c[2]!] : c));
      const beta = (x[0]! >> i) & 1;
      outcomes.add(beta);
      if (beta === 1) expectError(() => recv.finish(sent.msg2), 'ERR_PEER_CHEATED', 1, 'rvole-consistency');
      else expect((sent.c[0] + recv.finish(sent.msg2)[0]) % N).toBe((5n * recv.chi) % N);
    }
    expect(outcomes).toEqual(new Set([0, 1]));
  });
  it('a different a on every row is caught', () => {
    const { p, recv } = fresh('sign/sf/all');
    const sent = rvoleSendRows({ ...p.send, msg1: recv.msg1, inputs: [5n, 6n] }, (row, c) => [c[0]!, c[1]! + BigInt(row), c[2]!]);
    expectError(() => recv.finish(sent.msg2), 'ERR_PEER_CHEATED', 1, 'rvole-consistency');
  });
});

describe('golden transcripts (seeded randomness)', () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  it('pairwise setup bytes are pinned', () => {
    const all = Buffer.concat([...setup.messages, setup.state1, setup.state2]);
    expect(hex(sha256(all))).toBe('bfec0407d89b721a1e079650ccd9b5409946a0a2e2e85f07af903d7c6cba3e73');
  });
  it('one RVOLE transcript is pinned', () => {
    const { recv, sent, d } = run([7n, N - 7n], 2, 'sign/golden', 'golden');
    const scalars = [recv.chi, sent.c[0], sent.c[1], d[0], d[1]].map((v) => v.toString(16).padStart(64, '0')).join('');
    expect(hex(sha256(Buffer.concat([recv.msg1, sent.msg2, Buffer.from(scalars, 'hex')])))).toBe('3e15cd0c8cc9bcac7891a5895582450785ecf0de79c2e484bbfbcff60b1ec46c');
  });
});
