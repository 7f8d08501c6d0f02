// Test helpers: run a whole DKG and a whole signing session in process, every party honest unless
// a test tampers with the messages in between.
import { expect } from 'vitest';
import { aggregateSignature } from '../../../local/coordinator/aggregate.ts';
import { DkgSession, type WireDkgRound2 } from '../../../enclave/mpc/dkg.ts';
import { FrostSigningSession, type WireCommitment } from '../../../enclave/mpc/signing-session.ts';
import type { KeyShareRecord, ThresholdScheme } from '../../../enclave/vault/records.ts';
import type { KeyShareLike } from '../../../enclave/mpc/key-package.ts';

export function runDkg(scheme: ThresholdScheme, t: number, participants: number[]): KeyShareRecord[] {
  const sessions = participants.map((identifier) => new DkgSession({ scheme, threshold: t, participants, identifier, now: 1 }));
  const r1 = sessions.map((s) => s.round1());
  const r2 = sessions.map((s, i) => s.round2(r1.filter((_, j) => j !== i)));
  const all: WireDkgRound2[] = r2.flat();
  return sessions.map((s, i) => s.round3(all.filter((p) => p.to === participants[i])));
}

export function sign(keys: readonly KeyShareLike[], signers: number[], message: Uint8Array, sessionId = 's1'): Uint8Array {
  const chosen = keys.filter((k) => signers.includes(k.identifier));
  const sessions = chosen.map((key) => new FrostSigningSession({ sessionId, key, message, signers }));
  const commitments: WireCommitment[] = sessions.map((s) => s.commit());
  const shares: Record<number, string> = {};
  sessions.forEach((s, i) => (shares[chosen[i]!.identifier] = s.sign(commitments, s.binding)));
  return aggregateSignature(chosen[0]!, message, commitments, shares);
}

/** Asserts that `fn` throws a CosignerError with `code` (and, if given, these details). */
export function rejects(fn: () => unknown, code: string, details?: Record<string, unknown>): void {
  try {
    fn();
  } catch (err) {
    expect(err).toMatchObject({ code, ...(details ? { details } : {}) });
    return;
  }
  throw new Error(`expected ${code}`);
}
