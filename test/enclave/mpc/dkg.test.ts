import { describe, expect, it } from 'vitest';
import { DkgSession, type WireDkgRound1, type WireDkgRound2 } from '../../../enclave/mpc/dkg.ts';
import { verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import type { ThresholdScheme } from '../../../enclave/vault/records.ts';
import { rejects, runDkg, sign } from './helpers.ts';

const schemes: ThresholdScheme[] = ['frost-ed25519', 'frost-secp256k1-tr'];
const msg = new TextEncoder().encode('nitro-cosigner dkg test');

function started(scheme: ThresholdScheme, t: number, participants: number[]) {
  const sessions = participants.map((identifier) => new DkgSession({ scheme, threshold: t, participants, identifier, now: 1 }));
  const r1 = sessions.map((s) => s.round1());
  return { sessions, r1 };
}

describe.each(schemes)('DKG %s', (scheme) => {
  it('2-of-2 gives both parties the same group key, no party the secret, and signatures verify', () => {
    const [a, b] = runDkg(scheme, 2, [1, 2]);
    expect(a!.groupPublicKey).toBe(b!.groupPublicKey);
    expect(a!.keyId).toBe(b!.keyId);
    expect(a!.secretShare).not.toBe(b!.secretShare);
    expect(a!.verifyingShares).toEqual(b!.verifyingShares);
    const sig = sign([a!, b!], [1, 2], msg);
    expect(verifyWithStandardVerifier(scheme, Buffer.from(a!.groupPublicKey, 'hex'), msg, sig)).toBe(true);
  });

  it('a finished DKG refuses another round 3 (no second key from the same secrets)', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2]);
    const r2 = sessions.map((s, i) => s.round2(r1.filter((_, j) => j !== i))).flat();
    const mine = (id: number): WireDkgRound2[] => r2.filter((p) => p.to === id);
    expect(sessions[0]!.round3(mine(1)).groupPublicKey).toBe(sessions[1]!.round3(mine(2)).groupPublicKey);
    rejects(() => sessions[0]!.round3(mine(1)), 'ERR_SESSION_ABORTED');
  });

  it('names the participant whose round-2 share does not match its commitment', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2, 3]);
    const r2 = sessions.map((s, i) => s.round2(r1.filter((_, j) => j !== i))).flat();
    const mine = r2.filter((p) => p.to === 1).map((p): WireDkgRound2 => (p.from === 3 ? { ...p, signingShare: '01'.padStart(64, '0') } : p));
    rejects(() => sessions[0]!.round3(mine), 'ERR_BAD_SHARE', { identifier: 3 });
  });

  it('names the participant whose proof of knowledge is forged', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2, 3]);
    const other = started(scheme, 2, [1, 2, 3]).r1[1]!;
    const forged: WireDkgRound1 = { ...r1[1]!, proofOfKnowledge: other.proofOfKnowledge };
    rejects(() => sessions[0]!.round2([forged, r1[2]!]), 'ERR_BAD_SHARE', { identifier: 2 });
  });

  it('rejects identity / invalid commitment points, naming the sender', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2]);
    const zero = scheme === 'frost-ed25519' ? '01' + '00'.repeat(31) : '02' + '00'.repeat(32);
    rejects(() => sessions[0]!.round2([{ ...r1[1]!, commitment: [zero, r1[1]!.commitment[1]!] }]), 'ERR_BAD_SHARE', { identifier: 2 });
  });

  it('rejects duplicate identifiers, replayed and out-of-order rounds', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2, 3]);
    rejects(() => sessions[0]!.round2([r1[1]!, r1[1]!]), 'ERR_SESSION_ABORTED');
    rejects(() => sessions[0]!.round2([r1[1]!, r1[2]!]), 'ERR_SESSION_ABORTED'); // aborted for good
    rejects(() => sessions[1]!.round1(), 'ERR_SESSION_ABORTED'); // replayed round 1
    const fresh = new DkgSession({ scheme, threshold: 2, participants: [1, 2], identifier: 1, now: 1 });
    rejects(() => fresh.round3([]), 'ERR_SESSION_ABORTED'); // round 3 before round 1
    rejects(() => new DkgSession({ scheme, threshold: 2, participants: [1, 1], identifier: 1, now: 1 }), 'ERR_INVALID_ARGUMENT');
    rejects(() => new DkgSession({ scheme, threshold: 3, participants: [1, 2], identifier: 1, now: 1 }), 'ERR_INVALID_ARGUMENT');
  });

  it('every party agrees the same fresh chain code', () => {
    const keys = runDkg(scheme, 2, [1, 2, 3]);
    expect(keys[0]!.chainCode).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(keys.map((k) => k.chainCode)).size).toBe(1);
    expect(runDkg(scheme, 2, [1, 2, 3])[0]!.chainCode).not.toBe(keys[0]!.chainCode);
  });

  it('a chain-code reveal that does not open its commitment is blamed on the sender', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2, 3]);
    const r2 = sessions.map((s, i) => s.round2(r1.filter((_, j) => j !== i))).flat();
    const mine = r2.filter((p) => p.to === 1).map((p): WireDkgRound2 => (p.from === 2 ? { ...p, chainCodeReveal: 'ab'.repeat(32) } : p));
    rejects(() => sessions[0]!.round3(mine), 'ERR_BAD_SHARE', { identifier: 2 });
    rejects(() => sessions[0]!.round3(r2.filter((p) => p.to === 1)), 'ERR_SESSION_ABORTED'); // aborted for good
  });

  it('a reveal replayed from another DKG, or another participant\'s reveal, does not open the commitment', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2, 3]);
    const r2 = sessions.map((s, i) => s.round2(r1.filter((_, j) => j !== i))).flat();
    const old = started(scheme, 2, [1, 2, 3]);
    const oldR2 = old.sessions.map((s, i) => s.round2(old.r1.filter((_, j) => j !== i))).flat();
    const replayed = oldR2.find((p) => p.from === 3 && p.to === 1)!.chainCodeReveal;
    const fromThree = r2.find((p) => p.from === 3)!.chainCodeReveal;
    for (const reveal of [replayed, fromThree]) {
      const again = started(scheme, 2, [1, 2, 3]);
      const again2 = again.sessions.map((s, i) => s.round2(again.r1.filter((_, j) => j !== i))).flat();
      const mine = again2.filter((p) => p.to === 1).map((p): WireDkgRound2 => (p.from === 2 ? { ...p, chainCodeReveal: reveal } : p));
      rejects(() => again.sessions[0]!.round3(mine), 'ERR_BAD_SHARE', { identifier: 2 });
    }
  });

  it('an omitted chain-code reveal or commitment aborts, naming the sender', () => {
    const { sessions, r1 } = started(scheme, 2, [1, 2]);
    const { chainCodeCommitment: _c, ...noCommit } = r1[1]!;
    rejects(() => sessions[0]!.round2([noCommit as WireDkgRound1]), 'ERR_BAD_SHARE', { identifier: 2 });
    const b = started(scheme, 2, [1, 2]);
    const r2 = b.sessions.map((s, i) => s.round2(b.r1.filter((_, j) => j !== i))).flat();
    const { chainCodeReveal: _r, ...noReveal } = r2.find((p) => p.to === 1)!;
    rejects(() => b.sessions[0]!.round3([noReveal as WireDkgRound2]), 'ERR_BAD_SHARE', { identifier: 2 });
  });
});
