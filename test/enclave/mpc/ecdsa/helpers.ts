// Test helpers for the DKLs23 protocol objects: run a set of round parties in process (routing
// each round's messages like the coordinator does), with an optional hook that tampers with
// messages in flight, and a seeded RNG for reproducible transcripts.
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createEcdsaDkg, type EcdsaKeyShare } from '../../../../enclave/mpc/ecdsa/keygen.ts';
import { createEcdsaSigning } from '../../../../enclave/mpc/ecdsa/signing.ts';
import type { EcdsaSignature } from '../../../../enclave/mpc/ecdsa/signature.ts';
import type { OtLayer, Rng } from '../../../../enclave/mpc/ecdsa/ot-api.ts';
import type { PartyMessage, RoundParty } from '../../../../enclave/mpc/ecdsa/party.ts';
import { idealOt } from '../../../support/ecdsa-ideal-ot.ts';

/** The OT layer the protocol tests use: switch to `otLayer` (enclave/mpc/ecdsa/ot/index.ts) here. */
export const ot: OtLayer = idealOt;

/** Round number (1-based: the round whose outputs are in flight) and the message; return the replacement(s). */
export type Tamper = (round: number, m: PartyMessage) => PartyMessage | PartyMessage[] | null;

/** Every message of every round, in order (for golden transcripts). */
export type Transcript = PartyMessage[];

/** Runs parties to completion; returns each party's result in party order. */
export function runParties<T>(parties: readonly RoundParty<T>[], tamper?: Tamper, transcript?: Transcript, maxRounds = 12): T[] {
  let inFlight: PartyMessage[] = [];
  let first = true;
  const results = new Map<number, T>();
  for (let round = 1; round <= maxRounds; round++) {
    const next: PartyMessage[] = [];
    for (const p of parties) {
      if (results.has(p.identifier)) continue;
      const mine = first ? [] : inFlight.filter((m) => m.from !== p.identifier && (m.to === p.identifier || m.to === 0));
      const out = p.step(mine);
      next.push(...out.messages);
      if (out.result !== undefined) results.set(p.identifier, out.result);
    }
    first = false;
    if (results.size === parties.length) return parties.map((p) => results.get(p.identifier) as T);
    transcript?.push(...next);
    inFlight = tamper ? next.flatMap((m) => tamper(round, m) ?? []) : next;
  }
  throw new Error('protocol did not finish');
}

export function runEcdsaDkg(threshold: number, participants: number[], rng?: (id: number) => Rng, transcript?: Transcript, layer: OtLayer = ot): EcdsaKeyShare[] {
  const parties = participants.map((identifier) => createEcdsaDkg({ threshold, participants, identifier, now: 1, ot: layer, ...(rng ? { rng: rng(identifier) } : {}) }));
  return runParties(parties, undefined, transcript);
}

export function signingParties(keys: readonly EcdsaKeyShare[], signers: number[], digest: Uint8Array, sessionId = 'sess-1', layer: OtLayer = ot, rng?: (id: number) => Rng) {
  return keys.filter((k) => signers.includes(k.identifier)).map((key) => createEcdsaSigning({ sessionId, key, digest, signers, ot: layer, ...(rng ? { rng: rng(key.identifier) } : {}) }));
}

export function runSigning(keys: readonly EcdsaKeyShare[], signers: number[], digest: Uint8Array, tamper?: Tamper, layer: OtLayer = ot): EcdsaSignature {
  const sigs = runParties(signingParties(keys, signers, digest, 'sess-1', layer), tamper);
  return sigs[0] as EcdsaSignature;
}

/** A deterministic RNG (SHA-256 in counter mode over a seed): tests only. */
export function seededRng(seed: string): Rng {
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) {
      const block = createHash('sha256').update(seed).update(String(counter++)).digest();
      out.set(block.subarray(0, Math.min(32, n - o)), o);
    }
    return out;
  };
}

export function sha256Hex(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Every independent check the brief asks for, on one signature. */
export function checkSignature(sig: EcdsaSignature, digest: Uint8Array, publicKey: Uint8Array): void {
  expect(secp256k1.verify(sig.compact, digest, publicKey, { prehash: false })).toBe(true);
  expect(secp256k1.Signature.fromBytes(sig.compact).hasHighS()).toBe(false);
  const recovered = secp256k1.Signature.fromBytes(sig.compact).addRecoveryBit(sig.recovery).recoverPublicKey(digest).toBytes(true);
  expect(Buffer.from(recovered).toString('hex')).toBe(Buffer.from(publicKey).toString('hex'));
  expect(Buffer.from(secp256k1.Signature.fromBytes(sig.der, 'der').toBytes('compact')).equals(Buffer.from(sig.compact))).toBe(true);
}

