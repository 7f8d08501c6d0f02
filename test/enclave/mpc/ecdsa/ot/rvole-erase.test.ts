// Erasure of the RVOLE receiver's secrets (choice bits β with the KOS15 padding, extension rows t_i,
// χ): finish erases the OT secrets on success and on failure, abort() erases everything, is
// idempotent, and a finish after it is refused with ERR_SESSION_ABORTED. Same for the ideal test
// stand-in, which implements the same interface.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RvoleReceiver } from '../../../../../enclave/mpc/ecdsa/ot-api.ts';
import { otLayer } from '../../../../../enclave/mpc/ecdsa/ot/index.ts';
import { idealOt } from '../../../../support/ecdsa-ideal-ot.ts';
import { expectError, flip, runSetup, seededRng, te, type SetupRun } from './helpers.ts';

let setup: SetupRun;
beforeAll(() => {
  setup = runSetup({ seed: 'rvole-erase' });
});

/** The receiver's secret buffers, kept by reference before anything erases them. */
function secrets(recv: RvoleReceiver): Uint8Array[] {
  const inner = recv as unknown as { x: Uint8Array; rows: Uint8Array };
  expect(inner.x).toBeInstanceOf(Uint8Array);
  expect(inner.rows).toBeInstanceOf(Uint8Array);
  return [inner.x, inner.rows];
}

const allZero = (b: Uint8Array) => b.every((v) => v === 0);

function pair(transcript: string) {
  const recv = otLayer.rvoleReceive({ pairwise: setup.state2, transcript: te(transcript), self: 2, peer: 1, rng: seededRng(transcript) });
  const send = () => otLayer.rvoleSend({ pairwise: setup.state1, transcript: te(transcript), self: 1, peer: 2, msg1: recv.msg1, inputs: [7n, 8n], rng: seededRng(transcript + '/s') });
  return { recv, send };
}

describe('RVOLE receiver erasure', () => {
  it('abort zeroes β and the rows, drops χ, is idempotent, and a later finish throws ERR_SESSION_ABORTED', () => {
    const { recv, send } = pair('erase/abort');
    const bufs = secrets(recv);
    expect(bufs.every((b) => !allZero(b))).toBe(true);
    expect(recv.chi).not.toBe(0n);
    recv.abort();
    expect(bufs.every(allZero)).toBe(true);
    expect(recv.chi).toBe(0n);
    recv.abort();
    expectError(() => recv.finish(send().msg2), 'ERR_SESSION_ABORTED');
  });

  it('finish erases β and the rows after success; χ stays until abort', () => {
    const { recv, send } = pair('erase/ok');
    const bufs = secrets(recv);
    const chi = recv.chi;
    expect(recv.finish(send().msg2)).toHaveLength(2);
    expect(bufs.every(allZero)).toBe(true);
    expect(recv.chi).toBe(chi);
    recv.abort();
    expect(recv.chi).toBe(0n);
    expectError(() => recv.finish(send().msg2), 'ERR_SESSION_ABORTED');
  });

  it('finish erases β and the rows when the sender is caught', () => {
    const { recv, send } = pair('erase/cheat');
    const bufs = secrets(recv);
    expectError(() => recv.finish(flip(send().msg2, 40)), 'ERR_PEER_CHEATED', 1, 'rvole-consistency');
    expect(bufs.every(allZero)).toBe(true);
  });

  it('finish erases on a malformed msg2 too', () => {
    const { recv } = pair('erase/malformed');
    const bufs = secrets(recv);
    expectError(() => recv.finish(new Uint8Array(3)), 'ERR_PEER_CHEATED', 1, 'malformed');
    expect(bufs.every(allZero)).toBe(true);
  });
});

describe('ideal stand-in receiver (tests only) honours the same contract', () => {
  it('abort drops χ and a later finish throws ERR_SESSION_ABORTED', () => {
    const tag = te('ideal/erase');
    const recv = idealOt.rvoleReceive({ pairwise: tag, transcript: tag, self: 2, peer: 1, rng: seededRng('ideal') });
    const sent = idealOt.rvoleSend({ pairwise: tag, transcript: tag, self: 1, peer: 2, msg1: recv.msg1, inputs: [1n, 2n] });
    expect(recv.chi).not.toBe(0n);
    recv.abort();
    recv.abort();
    expect(recv.chi).toBe(0n);
    expectError(() => recv.finish(sent.msg2), 'ERR_SESSION_ABORTED');
  });
});
