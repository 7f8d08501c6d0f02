// Attack: a malicious coordinator (or signing peer) speaking the coordinator protocol against the
// co-signer's threshold ECDSA sessions (the dispatcher sees exactly the bodies an authenticated link
// delivers). The protocol parties are the test-only fake (test/support/fake-ecdsa.ts): these tests
// prove the integration's own checks (binding, round order, senders, sizes, the sealed
// refresh-required mark), not DKLs23's, which its own tests cover.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApprove } from '../../enclave/services/approve.ts';
import type { CallbackClient } from '../../enclave/approval/callback-client.ts';
import { payloadDigest, type TxSignRequest } from '../../enclave/approval/payload.ts';
import { SessionRegistry } from '../../enclave/mpc/sessions.ts';
import { messageDigest } from '../../enclave/mpc/signing-session.ts';
import { deriveKeyShare } from '../../enclave/mpc/derivation.ts';
import { inProcessHost } from '../../enclave/mpc/ecdsa/host/host.ts';
import { RequestDispatcher } from '../../enclave/upstream/dispatch.ts';
import { createEcdsaSessions } from '../../enclave/upstream/ecdsa-link.ts';
import { memoryUserStore } from '../../enclave/upstream/user-store.ts';
import type { ApiUserRecord, KeyShareRecord } from '../../enclave/vault/records.ts';
import { CoordinatorRelay } from '../../local/coordinator/ecdsa-relay.ts';
import { verifyEcdsa } from '../../local/coordinator/ecdsa-tx-sign.ts';
import { MAX_ECDSA_BATCH_B64, type WireEcdsaMessage } from '../../proto/coordinator/ecdsa-messages.ts';
import type { SignCommitResult } from '../../proto/coordinator/messages.ts';
import { systemClock } from '../../proto/ports.ts';
import { rejectionCode } from '../support/error-code.ts';
import { fakeEcdsaProtocols } from '../support/fake-ecdsa.ts';

const fake = fakeEcdsaProtocols();

/** A 2-of-3 fake key: the co-signer's record (1) and the coordinator's (2, 3). */
function makeKeys(): KeyShareRecord[] {
  const relay = new CoordinatorRelay([1, 2, 3].map((identifier) => fake.dkg({ threshold: 2, participants: [1, 2, 3], identifier, now: 0 })));
  relay.advance([]);
  relay.advance([]);
  return [...(relay.done as KeyShareRecord[])];
}
const [own, peer] = makeKeys() as [KeyShareRecord, KeyShareRecord];

function world() {
  const user: ApiUserRecord = { id: 'alice', workspace: 'w', createdAt: 0, status: 'active', approvalKeyPkcs8: '', keyShares: [own], callback: { url: 'https://handler.example', authMode: 'public-key' } as ApiUserRecord['callback'] };
  const users = memoryUserStore([user]);
  const asked: TxSignRequest[] = [];
  const callback = {
    ask: async (_u: ApiUserRecord, _kind: string, p: TxSignRequest) => {
      asked.push(p);
      return { action: 'APPROVE', handler: true, attempts: 1, latencyMs: 0, payloadDigest: payloadDigest(p) };
    },
  } as unknown as CallbackClient;
  const registry = new SessionRegistry({ clock: systemClock });
  const log = () => undefined;
  const ecdsa = createEcdsaSessions({ clock: systemClock, host: inProcessHost(fake), users, knownElsewhere: (id) => registry.knows(id), log });
  const d = new RequestDispatcher({ clock: systemClock, users, registry, ecdsa, cosignerId: 'cs', ownerPublicKeyPem: undefined, approve: createApprove({ callback, logger: pino({ level: 'silent' }) }), log });
  let n = 0;
  const req = (type: string, body: unknown) => d.handle(type, body, `r${++n}`);
  return { users, asked, req, ecdsa };
}

const digest = Buffer.alloc(32, 7);
const hexd = digest.toString('hex');
function commitBody(sessionId: string, payload = hexd, path = '[ ]') {
  return { userId: 'alice', signers: [1, 2], transaction: { txId: `tx-${sessionId}`, operation: 'RAW', asset: 'ETH', amountStr: '1', destAddress: '0xabc' }, rawTx: [{ sessionId, keyId: own.keyId, keyDerivationPath: path, format: 'raw', rawTx: payload, payload }] };
}

/** Opens a session; returns the peer (participant 2) and helpers to run the rounds. */
async function open(w: ReturnType<typeof world>, sessionId: string, path: number[] = []) {
  const pathText = path.length ? `[ ${path.join(', ')} ]` : '[ ]';
  const reply = (await w.req('sign.commit', commitBody(sessionId, hexd, pathText))) as SignCommitResult;
  const s = reply.sessions[0]!;
  const peerKey = deriveKeyShare(peer, path).key;
  const relay = new CoordinatorRelay<unknown>([fake.signing({ sessionId, key: peerKey, digest, signers: [1, 2] })], false);
  const peer1 = relay.advance([]);
  const body = (round: 2 | 3, messages: WireEcdsaMessage[], over: Record<string, unknown> = {}) => ({ sessionId, keyId: s.keyId, messageDigest: s.messageDigest, round, messages, ...over });
  return { s, relay, peer1, body };
}

describe('attack: threshold ECDSA sessions against a malicious coordinator', () => {
  it('baseline: three rounds at a derived path give a signature that verifies against the derived key', async () => {
    const w = world();
    const { s, relay, peer1, body } = await open(w, 'e-ok', [44, 60, 0, 0, 0]);
    expect(s.commitment).toBeUndefined();
    expect(s.messages?.length).toBeGreaterThan(0);
    expect(s.keyId).toBe(`${own.keyId}/44/60/0/0/0`);
    const c2 = ((await w.req('sign.round', body(2, peer1))) as { messages: WireEcdsaMessage[] }).messages;
    const p2 = relay.advance(s.messages ?? []);
    const c3 = ((await w.req('sign.round', body(3, p2))) as { messages: WireEcdsaMessage[] }).messages;
    relay.advance(c2);
    relay.advance(c3);
    const sig = relay.done?.[0] as { compact: Uint8Array; recovery: number };
    expect(verifyEcdsa(Buffer.from(s.publicKey, 'hex'), digest, sig.compact, sig.recovery)).toBe(true);
    expect(w.asked).toHaveLength(1);
    expect(w.ecdsa.size).toBe(0);
    // The session is gone: a replay of round 3 finds no nonces.
    expect(await rejectionCode(w.req('sign.round', body(3, p2)))).toBe('ERR_NONCE_REUSE');
  });

  it('a tampered round-2 message: ERR_PEER_CHEATED, the key is marked (sealed), later sign.commit refused before the handler', async () => {
    const w = world();
    const { s, relay, peer1, body } = await open(w, 'e-cheat');
    await w.req('sign.round', body(2, peer1));
    const p2 = relay.advance(s.messages ?? []).map((m) => ({ ...m, payload: Buffer.from(Buffer.from(m.payload, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64') }));
    const err = await w.req('sign.round', body(3, p2)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PEER_CHEATED', details: { identifier: 2 } });
    const marked = w.users.get('alice')?.keyShares[0]?.ecdsa?.refreshRequired;
    expect(marked).toMatchObject({ peer: 2, check: expect.any(String) });
    const asked = w.asked.length;
    expect(await rejectionCode(w.req('sign.commit', commitBody('e-after')))).toBe('ERR_KEY_REFRESH_REQUIRED');
    expect(w.asked).toHaveLength(asked);
  });

  it('sign.round naming another digest, another key, a round out of order, or repeated while running: refused, session aborted', async () => {
    const w = world();
    for (const [id, over, code] of [
      ['e-digest', { messageDigest: messageDigest(Buffer.alloc(32, 9)) }, 'ERR_MESSAGE_MISMATCH'],
      ['e-key', { keyId: `${own.keyId}/1` }, 'ERR_SESSION_ABORTED'],
      ['e-order', { round: 3 }, 'ERR_SESSION_ABORTED'],
    ] as const) {
      const { peer1, body } = await open(w, id);
      expect(await rejectionCode(w.req('sign.round', body(2, peer1, over)))).toBe(code);
      // Aborted for good: the honest round 2 now finds nothing.
      expect(await rejectionCode(w.req('sign.round', body(2, peer1)))).toBe('ERR_NONCE_REUSE');
    }
    const { peer1, body } = await open(w, 'e-twice');
    const first = w.req('sign.round', body(2, peer1));
    const second = w.req('sign.round', { ...body(2, peer1), messages: [...peer1] });
    expect(await rejectionCode(second)).toBe('ERR_SESSION_ABORTED');
    await first.catch(() => undefined);
    expect(w.ecdsa.size).toBe(0);
  });

  it('messages from a non-signer, to another participant, or from the co-signer itself: refused', async () => {
    const w = world();
    for (const [id, mutate] of [
      ['e-from3', (m: WireEcdsaMessage) => ({ ...m, from: 3 })],
      ['e-to2', (m: WireEcdsaMessage) => ({ ...m, to: 2 })],
      ['e-from1', (m: WireEcdsaMessage) => ({ ...m, from: 1 })],
    ] as const) {
      const { peer1, body } = await open(w, id);
      expect(await rejectionCode(w.req('sign.round', body(2, peer1.map(mutate))))).toBe('ERR_SESSION_ABORTED');
    }
    expect(w.ecdsa.size).toBe(0);
    // No mark: these are refused before the protocol runs, nobody is blamed.
    expect(w.users.get('alice')?.keyShares[0]?.ecdsa?.refreshRequired).toBeUndefined();
  });

  it('oversized or malformed batches are refused by the parser; a payload that is not a 32-byte digest is ERR_TX_FORMAT', async () => {
    const w = world();
    const { peer1: all1, body } = await open(w, 'e-big');
    const peer1 = all1 as [WireEcdsaMessage];
    const big = { from: 2, to: 0, payload: 'A'.repeat(MAX_ECDSA_BATCH_B64 + 4) };
    expect(await rejectionCode(w.req('sign.round', body(2, [big])))).toBe('ERR_INVALID_ARGUMENT');
    expect(await rejectionCode(w.req('sign.round', body(2, Array.from({ length: 241 }, () => peer1[0]))))).toBe('ERR_INVALID_ARGUMENT');
    expect(await rejectionCode(w.req('sign.round', body(2, [{ ...peer1[0], payload: 'not base64!' }])))).toBe('ERR_INVALID_ARGUMENT');
    expect(await rejectionCode(w.req('sign.round', body(2, [{ ...peer1[0], extra: 1 } as WireEcdsaMessage])))).toBe('ERR_INVALID_ARGUMENT');
    const asked = w.asked.length;
    expect(await rejectionCode(w.req('sign.commit', commitBody('e-short', 'aa'.repeat(31))))).toBe('ERR_TX_FORMAT');
    expect(await rejectionCode(w.req('sign.commit', commitBody('e-long', 'aa'.repeat(33))))).toBe('ERR_TX_FORMAT');
    expect(w.asked).toHaveLength(asked);
  });

  it('a session id is never reused, across schemes too; FROST round 2 cannot reach an ECDSA session', async () => {
    const w = world();
    const { s } = await open(w, 'e-reuse');
    expect(await rejectionCode(w.req('sign.commit', commitBody('e-reuse')))).toBe('ERR_SESSION_ABORTED');
    expect(await rejectionCode(w.req('sign.share', { sessionId: 'e-reuse', keyId: s.keyId, messageDigest: s.messageDigest, commitments: [] }))).toBe('ERR_SESSION_NOT_FOUND');
  });
});
