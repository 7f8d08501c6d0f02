// Peer bytes never crash a party: every decoder of the DKLs23 protocol (codec Reader via key
// generation, refresh and signing rounds) and of the OT layer (setup exchanges, RVOLE msg1/msg2)
// gets random, truncated, extended and bit-flipped inputs; the only thing allowed out is a
// CosignerError with ERR_PEER_CHEATED, ERR_SESSION_ABORTED or ERR_INVALID_ARGUMENT (or success,
// for a mutation that changes nothing the party checks) — never a TypeError or RangeError.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEcdsaDkg, type EcdsaKeyShare } from '../../../../enclave/mpc/ecdsa/keygen.ts';
import { createEcdsaRefresh } from '../../../../enclave/mpc/ecdsa/refresh.ts';
import { createEcdsaSigning } from '../../../../enclave/mpc/ecdsa/signing.ts';
import { otLayer } from '../../../../enclave/mpc/ecdsa/ot/index.ts';
import type { PartyMessage, RoundParty } from '../../../../enclave/mpc/ecdsa/party.ts';
import { CosignerError } from '../../../../proto/errors.ts';
import { idealOt } from '../../../support/ecdsa-ideal-ot.ts';
import { runEcdsaDkg, seededRng } from './helpers.ts';
import { runSetup } from './ot/helpers.ts';

const ALLOWED = new Set(['ERR_PEER_CHEATED', 'ERR_SESSION_ABORTED', 'ERR_INVALID_ARGUMENT']);

function allowedOutcome(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof CosignerError) || !ALLOWED.has(err.code)) throw err;
  }
}

/** A mutation of an honest payload: random bytes, truncated, extended, or bit-flipped. */
const mutation = (honest: Uint8Array) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.nat({ max: Math.max(0, honest.length - 1) }).map((n) => honest.slice(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((x) => Uint8Array.from([...honest, ...x])),
    fc.tuple(fc.nat({ max: honest.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, v]) => {
      const out = Uint8Array.from(honest);
      out[at]! ^= v;
      return out;
    }),
  );

/** Every round's messages of one honest run (round k = the outputs of step k). */
function capture<T>(parties: readonly RoundParty<T>[]): PartyMessage[][] {
  const rounds: PartyMessage[][] = [];
  let inFlight: PartyMessage[] = [];
  for (let step = 0; step < 12; step++) {
    const next: PartyMessage[] = [];
    let done = 0;
    for (const p of parties) {
      const out = p.step(step === 0 ? [] : inFlight.filter((m) => m.from !== p.identifier && (m.to === p.identifier || m.to === 0)));
      next.push(...out.messages);
      if (out.result !== undefined) done++;
    }
    if (done === parties.length) return rounds;
    rounds.push(next);
    inFlight = next;
  }
  throw new Error('did not finish');
}

/**
 * For each round and each message addressed to party `make()`: a fresh party gets the honest
 * earlier rounds, then this round with that one message mutated.
 */
function fuzzProtocol<T>(name: string, make: () => RoundParty<T>, rounds: PartyMessage[][], runs: number): void {
  const self = make().identifier;
  const inbox = (msgs: PartyMessage[]) => msgs.filter((m) => m.from !== self && (m.to === self || m.to === 0));
  rounds.forEach((round, r) => {
    const mine = inbox(round);
    mine.forEach((target, k) => {
      it(`${name}: round ${r + 1}, message ${k + 1} of ${mine.length} (from ${target.from})`, () => {
        fc.assert(
          fc.property(mutation(target.payload), (payload) => {
            const party = make();
            allowedOutcome(() => {
              party.step([]);
              for (let q = 0; q < r; q++) party.step(inbox(rounds[q]!));
              party.step(mine.map((m, i) => (i === k ? { ...m, payload } : m)));
            });
          }),
          { numRuns: runs, seed: 0x5eed + r * 16 + k },
        );
      });
    });
  });
}

describe('protocol decoders (ideal OT stand-in, 2-of-3)', () => {
  const participants = [1, 2, 3];
  const dkgParty = (id: number) => createEcdsaDkg({ threshold: 2, participants, identifier: id, now: 1, ot: idealOt, rng: seededRng(`fuzz-dkg-${id}`) });
  const dkgRounds = capture(participants.map(dkgParty));
  fuzzProtocol('key generation', () => dkgParty(1), dkgRounds, 40);

  const keys: EcdsaKeyShare[] = runEcdsaDkg(2, participants, (id) => seededRng(`fuzz-key-${id}`), undefined, idealOt);
  const digest = new Uint8Array(32).fill(7);
  const signParty = (key: EcdsaKeyShare) => createEcdsaSigning({ sessionId: 'fuzz', key, digest, signers: [1, 2], ot: idealOt, rng: seededRng(`fuzz-sign-${key.identifier}`) });
  fuzzProtocol('signing', () => signParty(keys[0]!), capture([signParty(keys[0]!), signParty(keys[1]!)]), 40);

  const refreshParty = (key: EcdsaKeyShare) => createEcdsaRefresh({ key, ot: idealOt, now: 2, rng: seededRng(`fuzz-refresh-${key.identifier}`) });
  fuzzProtocol('refresh', () => refreshParty(keys[0]!), capture(keys.map(refreshParty)), 30);
});

describe('OT layer decoders (real OT layer)', () => {
  let state1: Uint8Array;
  let state2: Uint8Array;
  let setupMessages: readonly Uint8Array[];
  beforeAll(() => {
    const run = runSetup({ seed: 'fuzz-ot' });
    state1 = run.state1;
    state2 = run.state2;
    setupMessages = run.messages;
  });
  const transcript = new TextEncoder().encode('fuzz/rvole');

  // Reaching exchange k recomputes the k − 1 earlier exchanges (≈ 0.2 s each): few runs past k = 1;
  // test/enclave/mpc/ecdsa/ot/pairwise.test.ts covers each exchange's tag and lengths explicitly.
  it('pairwise setup: a mutated exchange k message', { timeout: 120_000 }, () => {
    for (let k = 1; k <= 5; k++) {
      const honest = setupMessages[(k - 1) * 2 + 1]!; // participant 2's message of exchange k
      fc.assert(
        fc.property(mutation(honest), (msg) => {
          const p1 = otLayer.pairwiseSetup({ transcript: new TextEncoder().encode('keygen/session-1'), self: 1, peer: 2, rng: seededRng('fuzz-ot/1') });
          allowedOutcome(() => {
            p1.send(undefined);
            for (let q = 1; q < k; q++) p1.send(setupMessages[(q - 1) * 2 + 1]!);
            if (k < 5) p1.send(msg);
            else p1.finish(msg);
          });
        }),
        { numRuns: k === 1 ? 60 : 3, seed: 0xf00d + k },
      );
    }
  });

  it('RVOLE msg1 and msg2', () => {
    const recv = otLayer.rvoleReceive({ pairwise: state2, transcript, self: 2, peer: 1, rng: seededRng('fuzz-r') });
    const send = { pairwise: state1, transcript, self: 1, peer: 2, rng: seededRng('fuzz-s'), inputs: [3n, 4n] as const };
    const msg2 = otLayer.rvoleSend({ ...send, msg1: recv.msg1 }).msg2;
    fc.assert(fc.property(mutation(recv.msg1), (msg1) => allowedOutcome(() => otLayer.rvoleSend({ ...send, msg1 }))), { numRuns: 60, seed: 0xbeef });
    fc.assert(
      fc.property(mutation(msg2), (m) => {
        const r = otLayer.rvoleReceive({ pairwise: state2, transcript, self: 2, peer: 1, rng: seededRng('fuzz-r') });
        allowedOutcome(() => r.finish(m));
      }),
      { numRuns: 60, seed: 0xcafe },
    );
    expect(recv.finish(msg2)).toHaveLength(2);
  });
});
