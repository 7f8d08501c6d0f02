// Refresh agreement: a dealer that equivocates (a different valid zero-constant polynomial, with
// matching shares, to each peer) passes every local check — each honest party's own share matches
// its own view — but the honest parties would end with different verifying shares. The fresh OT
// setups bind every round-1 broadcast into their transcript, so two honest parties with different
// views fail their mutual setup and the refresh never completes with disagreeing records.
import { describe, expect, it } from 'vitest';
import { createEcdsaRefresh } from '../../../../enclave/mpc/ecdsa/refresh.ts';
import type { PartyMessage, RoundParty } from '../../../../enclave/mpc/ecdsa/party.ts';
import type { EcdsaKeyShare } from '../../../../enclave/mpc/ecdsa/keygen.ts';
import type { CosignerError } from '../../../../proto/errors.ts';
import { idealOt } from '../../../support/ecdsa-ideal-ot.ts';
import { runEcdsaDkg, seededRng } from './helpers.ts';

describe('refresh with an equivocating dealer', () => {
  it('two honest parties with different views of the dealer’s broadcast do not both finish', () => {
    const keys = runEcdsaDkg(2, [1, 2, 3], (id) => seededRng(`eq-${id}`), undefined, idealOt);
    const make = (key: EcdsaKeyShare, seed: string) => createEcdsaRefresh({ key, ot: idealOt, now: 2, rng: seededRng(seed) });
    const p1 = make(keys[0]!, 'eq-r1');
    const p3 = make(keys[2]!, 'eq-r3');
    // Participant 2 plays two honest dealers: view A towards 1, view B towards 3.
    const a = make(keys[1]!, 'eq-rA');
    const b = make(keys[1]!, 'eq-rB');
    const honest: [RoundParty<EcdsaKeyShare>, RoundParty<EcdsaKeyShare>][] = [[p1, a], [p3, b]];
    const results = new Map<number, EcdsaKeyShare>();
    const errors = new Map<number, CosignerError>();
    let out = new Map<RoundParty<EcdsaKeyShare>, PartyMessage[]>();
    for (let step = 0; step < 10 && results.size + errors.size < 2; step++) {
      const next = new Map<RoundParty<EcdsaKeyShare>, PartyMessage[]>();
      const to = (id: number, from: RoundParty<EcdsaKeyShare> | undefined) => (from ? (out.get(from) ?? []).filter((m) => m.to === id || m.to === 0) : []);
      for (const [p, dealerView] of honest) {
        if (results.has(p.identifier) || errors.has(p.identifier)) continue;
        const other = p === p1 ? p3 : p1;
        try {
          const r = p.step(step === 0 ? [] : [...to(p.identifier, other), ...to(p.identifier, dealerView)]);
          next.set(p, [...r.messages]);
          if (r.result) results.set(p.identifier, r.result);
        } catch (err) {
          errors.set(p.identifier, err as CosignerError);
        }
      }
      for (const [d, view] of [[a, p1], [b, p3]] as const) {
        try {
          const other = view === p1 ? p3 : p1;
          next.set(d, [...d.step(step === 0 ? [] : [...to(2, view), ...to(2, other)]).messages]);
        } catch {
          // the cheater's own failures do not matter
        }
      }
      out = next;
    }
    expect(results.size).toBe(0);
    // They fail their mutual setup and — a known limit of blame under equivocation without an echo
    // broadcast — name each other, not participant 2 (docs/ecdsa.md).
    expect(errors.get(1)?.code).toBe('ERR_PEER_CHEATED');
    expect(errors.get(1)?.details).toEqual({ identifier: 3, check: 'ot-setup' });
    expect(errors.get(3)?.details).toEqual({ identifier: 1, check: 'ot-setup' });
  });
});
