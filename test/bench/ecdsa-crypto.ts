// Benchmark helpers (not a benchmark itself): threshold ECDSA (DKLs23) key generation and signing
// in process over the real OT layer, routing each round's messages as the coordinator does. Used by
// ecdsa.bench.ts and signing.bench.ts.
import { createEcdsaDkg, type EcdsaKeyShare } from '../../enclave/mpc/ecdsa/keygen.ts';
import { createEcdsaSigning } from '../../enclave/mpc/ecdsa/signing.ts';
import { verifyEcdsa, type EcdsaSignature } from '../../enclave/mpc/ecdsa/signature.ts';
import { otLayer } from '../../enclave/mpc/ecdsa/ot/index.ts';
import type { PartyMessage, RoundParty } from '../../enclave/mpc/ecdsa/party.ts';

/** Routes each round's messages as the coordinator does; records bytes per round (payloads only). */
export function run<T>(parties: readonly RoundParty<T>[], sizes?: number[][], stopAfter?: number): T[] {
  let inFlight: PartyMessage[] = [];
  const results = new Map<number, T>();
  for (let round = 1; round <= 12; round++) {
    const next: PartyMessage[] = [];
    for (const p of parties) {
      if (results.has(p.identifier)) continue;
      const mine = round === 1 ? [] : inFlight.filter((m) => m.from !== p.identifier && (m.to === p.identifier || m.to === 0));
      const out = p.step(mine);
      next.push(...out.messages);
      if (out.result !== undefined) results.set(p.identifier, out.result);
    }
    if (sizes) {
      // per sender: bytes it sent this round (a broadcast counted once per recipient, as a star relays it)
      const per = parties.map((p) => next.filter((m) => m.from === p.identifier).reduce((n, m) => n + m.payload.length * (m.to === 0 ? parties.length - 1 : 1), 0));
      if (per.some((n) => n > 0)) sizes.push(per);
    }
    if (results.size === parties.length || (stopAfter !== undefined && round >= stopAfter)) return parties.map((p) => results.get(p.identifier) as T);
    inFlight = next;
  }
  throw new Error('protocol did not finish');
}

export function ecdsaDkg(threshold: number, participants: number[], sizes?: number[][]): EcdsaKeyShare[] {
  return run(participants.map((identifier) => createEcdsaDkg({ threshold, participants, identifier, now: 0, ot: otLayer })), sizes);
}

export function ecdsaSign(keys: EcdsaKeyShare[], signers: number[], i: number, sizes?: number[][]): EcdsaSignature {
  const digest = new Uint8Array(32).fill(i & 0xff);
  digest[0] = 0x42;
  const parties = keys.filter((k) => signers.includes(k.identifier)).map((key) => createEcdsaSigning({ sessionId: `b${i}`, key, digest, signers, ot: otLayer }));
  const sig = run(parties, sizes)[0] as EcdsaSignature;
  if (!verifyEcdsa(sig, digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'))) throw new Error('bad ECDSA signature');
  return sig;
}
