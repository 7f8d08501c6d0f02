// A transcript used twice (a signing session re-run under the same id, key, digest and signers, e.g.
// after an enclave restart emptied the session table) must not repeat pads. Before the fix the
// extension pads and the random-OT messages were a function of (setup, direction, transcript)
// only: a malicious receiver that ran the same transcript twice with complementary choice bits
// learned v⁰ and v¹ of every row and, from τ + τ' = −2·a, the sender's input a1 = λ·x (its key share).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { otLayer } from '../../../../../enclave/mpc/ecdsa/ot/index.ts';
import { instanceIdOf, oteReceive } from '../../../../../enclave/mpc/ecdsa/ot/extension.ts';
import { decodeState } from '../../../../../enclave/mpc/ecdsa/ot/pairwise.ts';
import { runSetup, seededRng, te, type SetupRun } from './helpers.ts';

const N = secp256k1.Point.CURVE().n;
let setup: SetupRun;
beforeAll(() => {
  setup = runSetup({ seed: 'replay-tests' });
});

const scalarAt = (b: Uint8Array, off: number) => BigInt('0x' + Buffer.from(b.subarray(off, off + 32)).toString('hex'));

describe('one transcript used twice', () => {
  it('a receiver replaying a transcript with complementary choice bits does not learn the sender’s input', () => {
    const transcript = te('sign/replayed');
    const sk = 0x1234567890abcdefn;
    const state = decodeState(setup.state2, 2, 1);
    const nonce = new Uint8Array(32); // the cheating receiver fixes its own contribution
    const instance = instanceIdOf(state.setupId, 2, 1, transcript, nonce);
    const x = seededRng('replay/x')(96);
    const taus: bigint[] = [];
    for (const [k, bits] of [x, x.map((b) => b ^ 0xff)].entries()) {
      const ote = oteReceive(state.senderSeeds, instance, bits);
      const msg1 = Uint8Array.from([0x21, ...nonce, ...ote.msg]);
      const sent = otLayer.rvoleSend({ pairwise: setup.state1, transcript, self: 1, peer: 2, msg1, inputs: [BigInt(k + 1), sk] });
      // msg2 = tag ‖ sender salt (32) ‖ τ: row 0's a1 entry is the second scalar of τ.
      taus.push(scalarAt(sent.msg2, 1 + 32 + 32));
    }
    const recovered = ((-(taus[0]! + taus[1]!) * ((N + 1n) / 2n)) % N + N) % N;
    expect(recovered).not.toBe(sk);
  });

  it('an honest receiver with the same choice bits and transcript sends fresh pads', () => {
    // Same first draw (the ℓ' choice bits), different later draws.
    const rng = (tag: string) => {
      const x = seededRng('replay/same-x')(96);
      const rest = seededRng(tag);
      let first = true;
      return (n: number) => (first && n === 96 ? ((first = false), Uint8Array.from(x)) : rest(n));
    };
    const p = { pairwise: setup.state2, transcript: te('sign/same'), self: 2, peer: 1 };
    const a = otLayer.rvoleReceive({ ...p, rng: rng('a') });
    const b = otLayer.rvoleReceive({ ...p, rng: rng('b') });
    expect(a.chi).toBe(b.chi);
    expect(Buffer.from(a.msg1.subarray(33))).not.toEqual(Buffer.from(b.msg1.subarray(33)));
  });
});
