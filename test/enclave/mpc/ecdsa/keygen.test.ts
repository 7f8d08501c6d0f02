// DKLs23 key generation and refresh: honest runs, and a malicious participant for every check
// (proof of knowledge, Feldman share, chain-code reveal, zero constant term, refresh share,
// binding, lengths), each aborting with ERR_PEER_CHEATED naming it.
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createEcdsaDkg, type EcdsaKeyShare } from '../../../../enclave/mpc/ecdsa/keygen.ts';
import { createEcdsaRefresh } from '../../../../enclave/mpc/ecdsa/refresh.ts';
import { T } from '../../../../enclave/mpc/ecdsa/codec.ts';
import type { PartyMessage } from '../../../../enclave/mpc/ecdsa/party.ts';
import type { OtLayer } from '../../../../enclave/mpc/ecdsa/ot-api.ts';
import { rejects } from '../helpers.ts';
import { checkSignature, ot, runEcdsaDkg, runParties, runSigning, type Tamper } from './helpers.ts';

const participants = [1, 2, 3];
const flip = (m: PartyMessage, at: number): PartyMessage => {
  const payload = Uint8Array.from(m.payload);
  payload[at] = (payload[at] as number) ^ 1;
  return { ...m, payload };
};
const byTwo = (type: number, f: (m: PartyMessage) => PartyMessage | PartyMessage[] | null): Tamper => (_r, m) => (m.from === 2 && m.payload[1] === type ? f(m) : m);

function dkgWith(tamper: Tamper): void {
  runParties(participants.map((identifier) => createEcdsaDkg({ threshold: 2, participants, identifier, now: 1, ot })), tamper);
}

function refreshAll(keys: readonly EcdsaKeyShare[], tamper?: Tamper): EcdsaKeyShare[] {
  return runParties(keys.map((key) => createEcdsaRefresh({ key, ot, now: 2 })), tamper);
}

describe('key generation: a malicious participant 2', () => {
  it('bad proof of knowledge', () => {
    // Round 1: version, type, 2 commitments (66), proof (65), chain-code commitment (32).
    rejects(() => dkgWith(byTwo(T.dkgRound1, (m) => flip(m, 2 + 66 + 40))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'dkg-proof-of-knowledge' });
  });
  it('a share that does not match its commitment', () => {
    rejects(() => dkgWith(byTwo(T.dkgRound2, (m) => flip(m, 20))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'dkg-share' });
  });
  it('a chain-code reveal that does not open its commitment', () => {
    rejects(() => dkgWith(byTwo(T.dkgRound2, (m) => flip(m, 2 + 32 + 5))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'dkg-share' });
  });
  it('an invalid commitment point', () => {
    rejects(() => dkgWith(byTwo(T.dkgRound1, (m) => flip(m, 2))), 'ERR_PEER_CHEATED', { identifier: 2 });
  });
  it('truncated round-1 broadcast, oversized setup message, duplicate, missing', () => {
    rejects(() => dkgWith(byTwo(T.dkgRound1, (m) => ({ ...m, payload: m.payload.slice(0, -1) }))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'length' });
    rejects(() => dkgWith(byTwo(T.dkgRound2, (m) => ({ ...m, payload: Uint8Array.from([...m.payload, ...new Uint8Array(190 * 1024)]) }))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'length' });
    rejects(() => dkgWith(byTwo(T.dkgRound1, (m) => [m, m])), 'ERR_PEER_CHEATED', { identifier: 2, check: 'duplicate' });
    rejects(() => dkgWith(byTwo(T.dkgRound2, () => null)), 'ERR_PEER_CHEATED', { identifier: 2, check: 'missing' });
  });
  it('a tampered OT setup message fails in the OT layer, naming the peer', () => {
    rejects(() => dkgWith(byTwo(T.dkgRound2, (m) => flip(m, m.payload.length - 1))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'ot-setup' });
  });
  it('steps out of order abort (ERR_SESSION_ABORTED)', () => {
    const p = createEcdsaDkg({ threshold: 2, participants, identifier: 1, now: 1, ot });
    rejects(() => p.step([{ from: 2, to: 0, payload: new Uint8Array(2) }]), 'ERR_SESSION_ABORTED');
    rejects(() => p.step([]), 'ERR_SESSION_ABORTED');
  });
});

describe('refresh', () => {
  const keys = runEcdsaDkg(2, participants);
  const fresh = refreshAll(keys);
  const digest = new Uint8Array(32).fill(9);

  it('keeps key id, group key and chain code; changes every share and pairwise state', () => {
    for (const [i, k] of fresh.entries()) {
      const old = keys[i]!;
      expect([k.keyId, k.groupPublicKey, k.chainCode, k.identifier]).toEqual([old.keyId, old.groupPublicKey, old.chainCode, old.identifier]);
      expect(k.secretShare).not.toBe(old.secretShare);
      expect(k.verifyingShares).toEqual(fresh[0]!.verifyingShares);
      expect(secp256k1.Point.BASE.multiply(BigInt('0x' + k.secretShare)).toHex(true)).toBe(k.verifyingShares[String(k.identifier)]);
      for (const peer of Object.keys(old.ecdsa.pairwise)) expect(k.ecdsa.pairwise[peer]).not.toBe(old.ecdsa.pairwise[peer]);
    }
  });

  it('signs after refresh with every pair; old and new shares do not mix', () => {
    for (const s of [[1, 2], [1, 3], [2, 3]]) checkSignature(runSigning(fresh, s, digest), digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'));
    rejects(() => runSigning([keys[0]!, fresh[1]!], [1, 2], digest), 'ERR_PEER_CHEATED');
  });

  // Round 1 broadcast: version, type, binding (32), C_0 (33), C_1 (33). Share: version, type, binding, value (32).
  it('a non-zero constant term is refused', () => {
    const g = secp256k1.Point.BASE.toBytes(true);
    rejects(() => refreshAll(keys, byTwo(T.refreshRound1, (m) => ({ ...m, payload: Uint8Array.from([...m.payload.slice(0, 34), ...g, ...m.payload.slice(67)]) }))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'zero-constant' });
  });
  it('a share that does not match the commitments', () => {
    rejects(() => refreshAll(keys, byTwo(T.refreshShare, (m) => flip(m, 40))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'refresh-share' });
  });
  it('a commitment not matching the share', () => {
    rejects(() => refreshAll(keys, byTwo(T.refreshRound1, (m) => ({ ...m, payload: Uint8Array.from([...m.payload.slice(0, 67), ...secp256k1.Point.BASE.toBytes(true)]) }))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'refresh-share' });
  });
  it('messages of an earlier refresh (other binding) are refused', () => {
    const old: PartyMessage[] = [];
    refreshAll(keys, (_r, m) => {
      if (m.from === 2) old.push(m);
      return m;
    });
    const replay: Tamper = (r, m) => (r === 1 && m.from === 2 ? (old.find((o) => o.to === m.to && o.payload[1] === m.payload[1]) as PartyMessage) : m);
    rejects(() => refreshAll(fresh, replay), 'ERR_PEER_CHEATED', { identifier: 2, check: 'binding' });
  });
  it('truncated share, duplicate broadcast', () => {
    rejects(() => refreshAll(keys, byTwo(T.refreshShare, (m) => ({ ...m, payload: m.payload.slice(0, -1) }))), 'ERR_PEER_CHEATED', { identifier: 2, check: 'length' });
    rejects(() => refreshAll(keys, byTwo(T.refreshRound1, (m) => [m, m])), 'ERR_PEER_CHEATED', { identifier: 2, check: 'duplicate' });
  });
  it('a key marked "refresh required" does not sign; refresh clears the mark', () => {
    const marked = keys.map((k) => ({ ...k, ecdsa: { ...k.ecdsa, refreshRequired: { at: 5, peer: 2, check: 'gamma-u' } } }));
    rejects(() => runSigning(marked, [1, 2], digest), 'ERR_KEY_REFRESH_REQUIRED', { keyId: keys[0]!.keyId });
    const cleared = refreshAll(marked);
    expect(cleared.every((k) => k.ecdsa.refreshRequired === undefined)).toBe(true);
    checkSignature(runSigning(cleared, [1, 2], digest), digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'));
  });

  it('refuses keys that are not threshold ECDSA keys', () => {
    rejects(() => createEcdsaRefresh({ key: { ...keys[0]!, scheme: 'frost-ed25519' } as unknown as EcdsaKeyShare, ot, now: 1 }), 'ERR_UNSUPPORTED_SCHEME');
  });
});

describe('an OT layer whose setup takes three exchanges', () => {
  // The stand-in's setup repeated: exchange k>1 echoes the first message after checking the peer's.
  const slow: OtLayer = {
    ...ot,
    pairwiseSetup(p) {
      const inner = ot.pairwiseSetup(p);
      let first: Uint8Array | undefined;
      return {
        exchanges: 3,
        send(incoming) {
          if (first === undefined) return (first = inner.send(incoming));
          if (!(incoming instanceof Uint8Array) || Buffer.compare(incoming, first) !== 0) throw new Error('mismatch');
          return first;
        },
        finish: (incoming) => inner.finish(incoming),
        abort: () => inner.abort(),
      };
    },
  };

  it('key generation takes E + 1 = 4 rounds of messages, refresh works, the result signs', () => {
    const parties = participants.map((identifier) => createEcdsaDkg({ threshold: 2, participants, identifier, now: 1, ot: slow }));
    let rounds = 0;
    const keys = runParties(parties, (r, m) => ((rounds = Math.max(rounds, r)), m));
    expect(rounds).toBe(4); // four rounds of messages, the fifth step yields the result
    const fresh = runParties(keys.map((key) => createEcdsaRefresh({ key, ot: slow, now: 2 })));
    const digest = new Uint8Array(32).fill(4);
    checkSignature(runSigning(fresh, [2, 3], digest), digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'));
  });
});
