// The generic round interface (enclave/mpc/scheme.ts) that a threshold-ECDSA implementation would
// also implement, exercised with FROST.
import { describe, expect, it } from 'vitest';
import { aggregateSignature } from '../../../local/coordinator/aggregate.ts';
import { frostScheme, type RoundMessage } from '../../../enclave/mpc/scheme.ts';
import { verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import type { WireCommitment } from '../../../enclave/mpc/signing-session.ts';

describe('frostScheme through the round interface', () => {
  it('runs DKG and signing as rounds of messages, then refuses an extra round', () => {
    const ids = [1, 2];
    const dkgs = ids.map((identifier) => frostScheme.newDkg({ scheme: 'frost-secp256k1-tr', threshold: 2, participants: ids, identifier, now: 0 }));
    const r1 = dkgs.map((d) => d.next([]).outbound).flat();
    const r2 = dkgs.map((d, i) => d.next(r1.filter((m) => m.from !== ids[i])).outbound).flat();
    const keys = dkgs.map((d, i) => d.next(r2.filter((m) => m.to === ids[i])).result!);
    expect(keys[0]!.groupPublicKey).toBe(keys[1]!.groupPublicKey);

    const message = new TextEncoder().encode('round interface');
    const signing = keys.map((key) => frostScheme.newSigning({ sessionId: 'gen-1', key, message, signers: ids }));
    const commits: RoundMessage[] = signing.map((s) => s.next([]).outbound).flat();
    const shares = signing.map((s) => s.next(commits).result!.signatureShare);
    const sig = aggregateSignature(keys[0]!, message, commits.map((m) => m.body as WireCommitment), { 1: shares[0]!, 2: shares[1]! });
    expect(verifyWithStandardVerifier('frost-secp256k1-tr', Buffer.from(keys[0]!.groupPublicKey, 'hex'), message, sig)).toBe(true);
    expect(() => signing[0]!.next(commits)).toThrow(expect.objectContaining({ code: 'ERR_NONCE_REUSE' }));
    expect(() => dkgs[0]!.next([])).toThrow(expect.objectContaining({ code: 'ERR_SESSION_ABORTED' }));
  });
});
