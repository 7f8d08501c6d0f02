// Test-only, INSECURE stand-in for the DKLs23 protocols (enclave/mpc/ecdsa/{dkg,signing,refresh}):
// the same round-based party shapes and round counts as the real code (DKG and refresh: messages,
// then result; signing: three rounds of messages and, at the assembling party, a fourth step with
// the signature), but every party learns the whole key. It exists only to test the integration
// plumbing (relay, sessions, marks, refresh bookkeeping, coordinator) before and independently of
// the real protocol. Tampered payloads fail a "check" with ERR_PEER_CHEATED naming the sender, as
// the real protocol's checks do.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { keyIdFor } from '../../enclave/mpc/dkg.ts';
import type { EcdsaProtocols, EcdsaSignatureLike } from '../../enclave/mpc/ecdsa/host/protocols.ts';
import type { PartyMessage, RoundParty, StepOutput } from '../../enclave/mpc/ecdsa/party.ts';
import type { KeyShareRecord } from '../../enclave/vault/records.ts';

const N = secp256k1.Point.Fn.ORDER;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const scalar = (b: Uint8Array): bigint => (BigInt(`0x${hex(b)}`) % (N - 1n)) + 1n;
const pointHex = (x: bigint): string => secp256k1.Point.BASE.multiply(x).toHex(true);
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

/** A generic fake party: `rounds` message rounds of `payload(r)` broadcasts, each checked, then `finish`. */
function party<T>(self: number, peers: readonly number[], rounds: number, payload: (r: number) => Uint8Array, finish: (got: Map<number, Uint8Array[]>) => T | undefined): RoundParty<T> {
  let step = 0;
  let dead = false;
  const got = new Map<number, Uint8Array[]>();
  return {
    identifier: self,
    step(incoming: readonly PartyMessage[]): StepOutput<T> {
      if (dead) throw new CosignerError('ERR_SESSION_ABORTED', 'fake party aborted');
      step++;
      if (step > 1) {
        const r = step - 1;
        const from = incoming.map((m) => m.from).sort((a, b) => a - b);
        if (JSON.stringify(from) !== JSON.stringify([...peers].sort((a, b) => a - b))) {
          dead = true;
          throw new CosignerError('ERR_SESSION_ABORTED', `fake round ${r}: expected one message from each peer`);
        }
        for (const m of incoming) {
          const want = m.payload.subarray(0, 2);
          if (want[0] !== 0xfa || want[1] !== r) {
            dead = true;
            throw new CosignerError('ERR_PEER_CHEATED', 'fake check failed', { details: { identifier: m.from, check: `fake-round-${r}` } });
          }
          got.set(m.from, [...(got.get(m.from) ?? []), m.payload.subarray(2)]);
        }
      }
      if (step <= rounds) return { messages: [{ from: self, to: 0, payload: cat(Uint8Array.of(0xfa, step), payload(step)) }] };
      const result = finish(got);
      dead = true;
      return result === undefined ? { messages: [] } : { messages: [], result };
    },
    abort() {
      dead = true;
    },
  };
}

function record(o: { threshold: number; participants: readonly number[]; identifier: number; now: number }, x: bigint, chainCode: string, pairwise: string, shares?: Record<string, string>): KeyShareRecord {
  const groupPublicKey = pointHex(x);
  const others = o.participants.filter((p) => p !== o.identifier);
  return {
    keyId: keyIdFor('dkls23-secp256k1', groupPublicKey), scheme: 'dkls23-secp256k1', threshold: o.threshold, participants: [...o.participants], identifier: o.identifier,
    secretShare: x.toString(16).padStart(64, '0'), groupPublicKey, verifyingShares: shares ?? Object.fromEntries(o.participants.map((p) => [String(p), groupPublicKey])),
    createdAt: o.now, chainCode, ecdsa: { pairwise: Object.fromEntries(others.map((p) => [String(p), Buffer.from(pairwise).toString('base64')])) },
  };
}

/** The fake protocols. `signatures` counts assembled signatures (tests). */
export function fakeEcdsaProtocols(): EcdsaProtocols & { signatures: number } {
  const api = {
    signatures: 0,
    dkg(p: Parameters<EcdsaProtocols['dkg']>[0]): RoundParty<KeyShareRecord> {
      const mine = randomBytes(64);
      const peers = p.participants.filter((x) => x !== p.identifier);
      return party(p.identifier, peers, 1, () => mine, (got) => {
        const all = [[p.identifier, mine] as const, ...[...got].map(([id, [b]]) => [id, b as Uint8Array] as const)].sort((a, b) => a[0] - b[0]);
        const x = all.reduce((acc, [, b]) => (acc + scalar(b.subarray(0, 32))) % N, 0n);
        const chain = hex(sha256(cat(...all.map(([, b]) => b.subarray(32)))));
        return record(p, x, chain, 'fake-pairwise');
      });
    },
    signing(p: Parameters<EcdsaProtocols['signing']>[0]): RoundParty<EcdsaSignatureLike> {
      const peers = p.signers.filter((x) => x !== p.key.identifier);
      const tag = sha256(cat(Buffer.from(p.sessionId), p.digest)).subarray(0, 8);
      // The assembling party is the highest signer (the co-signer, identifier 1, never assembles).
      const assembles = p.key.identifier === Math.max(...p.signers);
      return party(p.key.identifier, peers, 3, () => tag, (got) => {
        for (const [from, bs] of got) if (bs.some((b) => hex(b) !== hex(tag))) throw new CosignerError('ERR_PEER_CHEATED', 'fake binding check', { details: { identifier: from, check: 'fake-binding' } });
        if (!assembles) return undefined;
        const compact = secp256k1.sign(p.digest, Uint8Array.from(Buffer.from(p.key.secretShare, 'hex')), { prehash: false, lowS: true });
        const sig = secp256k1.Signature.fromBytes(compact, 'compact');
        const want = p.key.groupPublicKey;
        const recovery = [0, 1].find((r) => sig.addRecoveryBit(r).recoverPublicKey(p.digest).toHex(true) === want) ?? 0;
        api.signatures++;
        return { compact, der: sig.toBytes('der'), recovery };
      });
    },
    refresh(p: Parameters<EcdsaProtocols['refresh']>[0]): RoundParty<KeyShareRecord> {
      const mine = randomBytes(32);
      const peers = p.key.participants.filter((x) => x !== p.key.identifier);
      return party(p.key.identifier, peers, 1, () => mine, (got) => {
        const all = [[p.key.identifier, mine] as const, ...[...got].map(([id, [b]]) => [id, b as Uint8Array] as const)].sort((a, b) => a[0] - b[0]);
        const seed = sha256(cat(...all.map(([, b]) => b)));
        const shares = Object.fromEntries(p.key.participants.map((q) => [String(q), pointHex(scalar(sha256(cat(seed, Uint8Array.of(q)))))]));
        const x = BigInt(`0x${p.key.secretShare}`);
        return { ...record({ ...p.key, now: p.now }, x, p.key.chainCode ?? '', hex(seed), shares), createdAt: p.key.createdAt };
      });
    },
  };
  return api;
}
