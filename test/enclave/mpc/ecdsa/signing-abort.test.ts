// A DKLs23 signing run erases its RVOLE receivers: aborted after round 1 or round 2 (explicitly or
// by a failed check) it calls abort() on every receiver it still holds, and a completed run has
// aborted (erased) every receiver after finishing it. The OT layer is the ideal test stand-in with
// every receiver's finish/abort spied. Also: the decoded pairwise OT states handed to the OT
// layer (signing) and the raw states the setups return (key generation) are zeroed after use.
import { describe, expect, it, vi, type MockInstance } from 'vitest';
import type { OtLayer, RvoleReceiver } from '../../../../enclave/mpc/ecdsa/ot-api.ts';
import type { PartyMessage, RoundParty } from '../../../../enclave/mpc/ecdsa/party.ts';
import { idealOt } from '../../../support/ecdsa-ideal-ot.ts';
import { runEcdsaDkg, runParties, signingParties } from './helpers.ts';
import { expectError } from './ot/helpers.ts';

interface Spied {
  readonly owner: number;
  readonly abort: MockInstance<() => void>;
  readonly finish: MockInstance<(m: Uint8Array) => readonly [bigint, bigint]>;
}

function spyingLayer(): { layer: OtLayer; receivers: Spied[] } {
  const receivers: Spied[] = [];
  const layer: OtLayer = {
    ...idealOt,
    rvoleReceive(p) {
      const r: RvoleReceiver = idealOt.rvoleReceive(p);
      receivers.push({ owner: p.self, abort: vi.spyOn(r, 'abort'), finish: vi.spyOn(r, 'finish') });
      return r;
    },
  };
  return { layer, receivers };
}

const keys = runEcdsaDkg(2, [1, 2, 3]);
const digest = new Uint8Array(32).fill(9);

/** Steps every party through `rounds` rounds, routing messages as the coordinator does. */
function stepRounds(parties: RoundParty<unknown>[], rounds: number): PartyMessage[] {
  let inFlight: PartyMessage[] = [];
  for (let round = 0; round < rounds; round++) {
    const next: PartyMessage[] = [];
    for (const p of parties) {
      const mine = round === 0 ? [] : inFlight.filter((m) => m.from !== p.identifier && (m.to === p.identifier || m.to === 0));
      next.push(...p.step(mine).messages);
    }
    inFlight = next;
  }
  return inFlight;
}

describe('signing aborts erase every RVOLE receiver', () => {
  it.each([1, 2])('a party aborted after round %i calls abort on each of its receivers', (rounds) => {
    const { layer, receivers } = spyingLayer();
    const parties = signingParties(keys, [1, 2, 3], digest, `sess-abort-${rounds}`, layer);
    stepRounds(parties, rounds);
    const mine = receivers.filter((r) => r.owner === 1);
    expect(mine).toHaveLength(2);
    expect(mine.every((r) => r.abort.mock.calls.length === 0)).toBe(true);
    parties[0]!.abort();
    expect(mine.map((r) => r.abort.mock.calls.length)).toEqual([1, 1]);
    expect(mine.every((r) => r.finish.mock.calls.length === 0)).toBe(true);
    // The other parties still hold theirs until they abort too.
    expect(receivers.filter((r) => r.owner !== 1).every((r) => r.abort.mock.calls.length === 0)).toBe(true);
  });

  it('a round-3 check failure aborts the receivers not yet finished as well', () => {
    const { layer, receivers } = spyingLayer();
    const parties = signingParties(keys, [1, 2, 3], digest, 'sess-abort-r3', layer);
    const inFlight = stepRounds(parties, 2);
    // Party 2's round-2 message to party 1 replaced by its message to party 3: wrong binding/OT tag.
    const to1 = inFlight.filter((m) => m.to === 1);
    const forged = to1.map((m) => (m.from === 2 ? { ...(inFlight.find((x) => x.from === 2 && x.to === 3) as PartyMessage), to: 1 } : m));
    expectError(() => parties[0]!.step(forged), 'ERR_PEER_CHEATED', 2, 'ot-rvole');
    // Party 1's receivers: towards 2 (finish threw) and towards 3 (never finished): both erased.
    const mine = receivers.filter((r) => r.owner === 1);
    expect(mine).toHaveLength(2);
    expect(mine.map((r) => r.finish.mock.calls.length)).toEqual([1, 0]);
    expect(mine.every((r) => r.abort.mock.calls.length >= 1)).toBe(true);
  });

  it('a completed run has erased every receiver after finishing it, and signs', () => {
    const { layer, receivers } = spyingLayer();
    const parties = signingParties(keys, [1, 3], digest, 'sess-abort-ok', layer);
    const sigs = runParties(parties);
    expect(sigs[0]).toBeDefined();
    expect(receivers).toHaveLength(2);
    for (const r of receivers) {
      expect(r.finish.mock.calls).toHaveLength(1);
      expect(r.abort.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(r.abort.mock.invocationCallOrder[0]!).toBeGreaterThan(r.finish.mock.invocationCallOrder[0]!);
    }
  });
});

describe('decoded pairwise OT states are zeroed after use', () => {
  it('the signing party zeroes each pairwise state it decoded for an RVOLE (receiver and sender)', () => {
    const passed: Uint8Array[] = [];
    const layer: OtLayer = {
      ...idealOt,
      rvoleReceive: (p) => (passed.push(p.pairwise), idealOt.rvoleReceive(p)),
      rvoleSend: (p) => (passed.push(p.pairwise), idealOt.rvoleSend(p)),
    };
    const parties = signingParties(keys, [2, 3], digest, 'sess-pairwise', layer);
    stepRounds(parties, 2);
    expect(passed).toHaveLength(4);
    expect(passed.every((b) => b.length > 0 && b.every((v) => v === 0))).toBe(true);
    expect(keys.every((k) => Object.values(k.ecdsa.pairwise).every((s) => s.length > 0))).toBe(true);
  });

  it('key generation zeroes the raw state each setup returns once it is encoded', () => {
    const raws: Uint8Array[] = [];
    const layer: OtLayer = {
      ...idealOt,
      pairwiseSetup(p) {
        const inner = idealOt.pairwiseSetup(p);
        return {
          exchanges: inner.exchanges,
          send: (m) => inner.send(m),
          finish: (m) => {
            const raw = inner.finish(m);
            raws.push(raw);
            return raw;
          },
          abort: () => inner.abort(),
        };
      },
    };
    const fresh = runEcdsaDkg(2, [1, 2], undefined, undefined, layer);
    expect(raws).toHaveLength(2);
    expect(raws.every((b) => b.length === 32 && b.every((v) => v === 0))).toBe(true);
    // What went into the records is the state as it was before zeroing (the ideal layer's tag).
    expect(Buffer.from(fresh[0]!.ecdsa.pairwise['2']!, 'base64').every((v) => v === 0)).toBe(false);
  });
});
