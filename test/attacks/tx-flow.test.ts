// Attack: a malicious coordinator speaking the coordinator protocol (the dispatcher sees exactly
// the bodies an authenticated link delivers) tries to get signature shares for something the
// Callback Handler did not approve: swapping payload, key, path or signer set between sign.commit
// and sign.share, reusing a session id or request id, oversize or malformed transactions, payloads
// that are not their raw transaction, unknown operations for a user without a handler. Expected: a
// typed refusal and no signature share; refusals before the handler never reach it.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApprove } from '../../enclave/services/approve.ts';
import type { CallbackClient } from '../../enclave/approval/callback-client.ts';
import { payloadDigest, type TxSignRequest } from '../../enclave/approval/payload.ts';
import { SessionRegistry } from '../../enclave/mpc/sessions.ts';
import { FrostSigningSession, messageDigest, type WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { verifyWithStandardVerifier } from '../../enclave/mpc/suites.ts';
import { RequestDispatcher } from '../../enclave/upstream/dispatch.ts';
import { memoryUserStore } from '../../enclave/upstream/user-store.ts';
import type { ApiUserRecord, KeyShareRecord } from '../../enclave/vault/records.ts';
import { aggregateSignature } from '../../local/coordinator/aggregate.ts';
import type { SignCommitResult } from '../../proto/coordinator/messages.ts';
import { systemClock } from '../../proto/ports.ts';
import { runDkg } from '../enclave/mpc/helpers.ts';
import { rejectionCode } from '../support/error-code.ts';

const keys: KeyShareRecord[] = runDkg('frost-ed25519', 2, [1, 2, 3]);
const [own, peerKey, third] = keys as [KeyShareRecord, KeyShareRecord, KeyShareRecord];
// The same share as a record made before derivation existed (no chain code): root key only.
const { chainCode: _unused, ...legacyFields } = own;
const legacyOwn: KeyShareRecord = { ...legacyFields, keyId: `${own.keyId}-legacy` };
const handlerSettings = { url: 'https://handler.example', authMode: 'public-key' } as unknown as ApiUserRecord['callback'];

function world(o: { handler?: boolean } = {}) {
  const user: ApiUserRecord = { id: 'alice', workspace: 'w', createdAt: 0, status: 'active', approvalKeyPkcs8: '', keyShares: [own, legacyOwn], ...(o.handler === false ? {} : { callback: handlerSettings }) };
  const asked: TxSignRequest[] = [];
  const audit: Record<string, unknown>[] = [];
  const callback = {
    ask: async (u: ApiUserRecord, _kind: string, p: TxSignRequest) => {
      if (u.callback) asked.push(p);
      return { action: 'APPROVE', handler: !!u.callback, attempts: 1, latencyMs: 0, payloadDigest: payloadDigest(p) };
    },
  } as unknown as CallbackClient;
  const registry = new SessionRegistry({ clock: systemClock });
  const d = new RequestDispatcher({
    clock: systemClock, users: memoryUserStore([user]), registry, cosignerId: 'cs', ownerPublicKeyPem: undefined,
    approve: createApprove({ callback, logger: pino({ level: 'silent' }) }), log: () => undefined, audit: (r) => void audit.push(r),
  });
  let n = 0;
  const req = (type: string, body: unknown, id = `r${++n}`) => d.handle(type, body, id);
  return { d, registry, asked, audit, req };
}

const hexOf = (s: string) => Buffer.from(s).toString('hex');
function entry(sessionId: string, msg: string, extra: Record<string, unknown> = {}) {
  return { sessionId, keyId: own.keyId, keyDerivationPath: '[ ]', format: 'raw', rawTx: hexOf(msg), payload: hexOf(msg), ...extra };
}
function commit(entries: unknown[], tx: Record<string, unknown> = {}, signers = [1, 2]) {
  return { userId: 'alice', signers, transaction: { txId: 'tx-1', operation: 'RAW', asset: 'ETH', amountStr: '1', destAddress: '0xabc', ...tx }, rawTx: entries };
}

/** The peer's round 1 and the co-signer's round 2 for one session; the co-signer's share or the refusal. */
async function round2(w: ReturnType<typeof world>, s: SignCommitResult['sessions'][number], msg: string, over: { keyId?: string; digest?: string; peer?: KeyShareRecord } = {}) {
  const message = Buffer.from(msg);
  const peerKeyUsed = over.peer ?? peerKey;
  const peer = new FrostSigningSession({ sessionId: s.sessionId, key: peerKeyUsed, message, signers: [1, peerKeyUsed.identifier] });
  const commitments: WireCommitment[] = [s.commitment as WireCommitment, peer.commit()];
  const body = { sessionId: s.sessionId, keyId: over.keyId ?? s.keyId, messageDigest: over.digest ?? messageDigest(message), commitments };
  return { body, peer, commitments, result: w.req('sign.share', body) as Promise<{ signatureShare: string }> };
}

describe('attack: a malicious coordinator changes the transaction after approval', () => {
  it('baseline: two entries, one handler call with every entry, one verifying signature per session', async () => {
    const w = world();
    const r = (await w.req('sign.commit', commit([entry('s-a', 'first message'), entry('s-b', 'second message')]))) as SignCommitResult;
    expect(w.asked).toHaveLength(1);
    expect(w.asked[0]).toMatchObject({ txId: 'tx-1', requestId: 'tx-1', signerId: 'alice', rawTx: [{ keyDerivationPath: '[ ]', payload: hexOf('first message') }, { payload: hexOf('second message') }] });
    expect(r.sessions.map((s) => [s.sessionId, s.keyId, s.publicKey])).toEqual([['s-a', own.keyId, own.groupPublicKey], ['s-b', own.keyId, own.groupPublicKey]]);
    for (const [i, msg] of ['first message', 'second message'].entries()) {
      const { peer, commitments, result } = await round2(w, r.sessions[i]!, msg);
      const share = (await result).signatureShare;
      const sig = aggregateSignature(own, Buffer.from(msg), commitments, { 1: share, 2: peer.sign(commitments, peer.binding) });
      expect(verifyWithStandardVerifier('frost-ed25519', Buffer.from(own.groupPublicKey, 'hex'), Buffer.from(msg), sig)).toBe(true);
    }
  });

  it('another payload, another key id or another signer set in sign.share gets no share', async () => {
    const w = world();
    const r = (await w.req('sign.commit', commit([entry('s-1', 'm1'), entry('s-2', 'm2'), entry('s-3', 'm3')]))) as SignCommitResult;
    expect(await rejectionCode((await round2(w, r.sessions[0]!, 'm1', { digest: messageDigest(Buffer.from('evil')) })).result)).toBe('ERR_MESSAGE_MISMATCH');
    expect(await rejectionCode((await round2(w, r.sessions[1]!, 'm2', { keyId: `${own.keyId}/44/0/0/0/0` })).result)).toBe('ERR_SESSION_ABORTED');
    expect(await rejectionCode((await round2(w, r.sessions[2]!, 'm3', { peer: third })).result)).toBe('ERR_SESSION_ABORTED');
    // Each refusal closed its session for good: the honest round 2 now fails too.
    for (const [i, m] of ['m1', 'm2', 'm3'].entries()) expect(await rejectionCode((await round2(w, r.sessions[i]!, m)).result)).toBe('ERR_NONCE_REUSE');
  });

  it('a second sign.commit reusing a session id or a request id is refused and leaves nothing to sign', async () => {
    const w = world();
    const first = (await w.req('sign.commit', commit([entry('s-x', 'approved')]), 'req-1')) as SignCommitResult;
    expect(await rejectionCode(w.req('sign.commit', commit([entry('s-x', 'swapped')], { txId: 'tx-2' })))).toBe('ERR_SESSION_ABORTED');
    expect(await rejectionCode((await round2(w, first.sessions[0]!, 'approved')).result)).toBe('ERR_NONCE_REUSE');
    expect(await rejectionCode(w.req('sign.commit', commit([entry('s-y', 'swapped')]), 'req-1'))).toBe('ERR_ALREADY_EXISTS');
    // A later entry whose session id is taken aborts the ones opened before it.
    expect(await rejectionCode(w.req('sign.commit', commit([entry('s-z', 'a'), entry('s-x', 'b')], { txId: 'tx-3' })))).toBe('ERR_SESSION_ABORTED');
    expect(w.registry.size).toBe(0);
  });

  it('a path the key cannot derive, or a signing-stage payload that is not its raw transaction, never reaches the handler', async () => {
    const w = world();
    expect(await rejectionCode(w.req('sign.commit', commit([entry('s-p', 'm', { keyId: legacyOwn.keyId, keyDerivationPath: '[ 44, 0, 0, 0, 0 ]' })])))).toBe('ERR_DERIVATION_UNSUPPORTED');
    expect(await rejectionCode(w.req('sign.commit', commit([entry('s-q', 'm', { payload: hexOf('other') })])))).toBe('ERR_PAYLOAD_MISMATCH');
    expect(await rejectionCode(w.req('sign.commit', commit([entry('s-r', 'm', { keyId: 'not-a-key' })])))).toBe('ERR_NOT_FOUND');
    expect(w.asked).toHaveLength(0);
    expect(w.registry.size).toBe(0);
    expect(w.audit.map((a) => [a.kind, a.code])).toEqual([['sign.refused', 'ERR_DERIVATION_UNSUPPORTED'], ['sign.refused', 'ERR_PAYLOAD_MISMATCH'], ['sign.refused', 'ERR_NOT_FOUND']]);
  });

  it.each([
    ['65 entries', commit(Array.from({ length: 65 }, (_, i) => entry(`s${i}`, 'm')))],
    ['an oversize rawTx', commit([entry('s-o', 'm', { rawTx: 'ab'.repeat(16 * 1024 + 1) })])],
    ['an unknown body field', { ...commit([entry('s-u', 'm')]), keyId: own.keyId }],
    ['an unknown transaction field', commit([entry('s-u', 'm')], { surprise: 1 })],
    ['an unknown entry field', commit([entry('s-u', 'm', { scheme: 'frost-ed25519' })])],
    ['a transaction value out of bounds', commit([entry('s-u', 'm')], { note: 'x'.repeat(3000) })],
    ['a requestId unrelated to txId', commit([entry('s-u', 'm')], { requestId: 'tx-9' })],
    ['two entries with one session id', commit([entry('s-d', 'a'), entry('s-d', 'b')])],
  ])('%s: ERR_INVALID_ARGUMENT before the handler', async (_name, body) => {
    const w = world();
    expect(await rejectionCode(w.req('sign.commit', body))).toBe('ERR_INVALID_ARGUMENT');
    expect(w.asked).toHaveLength(0);
    expect(w.registry.size).toBe(0);
  });

  it('an unknown operation goes to the handler; for a user without a handler it is a policy refusal', async () => {
    const w = world();
    const r = (await w.req('sign.commit', commit([entry('s-op', 'm')], { operation: 'FUTURE_OPERATION', requestId: 'tx-1-2' }))) as SignCommitResult;
    expect(r.sessions).toHaveLength(1);
    expect(w.asked[0]).toMatchObject({ operation: 'FUTURE_OPERATION', requestId: 'tx-1-2' });
    const bare = world({ handler: false });
    expect(await rejectionCode(bare.req('sign.commit', commit([entry('s-op', 'm')], { operation: 'FUTURE_OPERATION' })))).toBe('ERR_POLICY_DENIED');
    expect(bare.registry.size).toBe(0);
    // A known operation without a handler is signed on the co-signer's own checks, as before.
    expect(((await bare.req('sign.commit', commit([entry('s-ok', 'm')]))) as SignCommitResult).sessions).toHaveLength(1);
  });

  it('approval stage: signing-stage fields and a payload for another transaction are refused', async () => {
    const w = world();
    const ask = (payload: Record<string, unknown>) => w.req('approval.request', { userId: 'alice', kind: 'transaction', subjectId: 'tx-1', payload });
    const base = { txId: 'tx-1', asset: 'ETH', amountStr: '1' };
    expect(await rejectionCode(ask({ ...base, fee: '0.1' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await rejectionCode(ask({ ...base, rawTx: [] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await rejectionCode(ask({ ...base, destinations: [{ displayDstAddress: '0xabc' }] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await rejectionCode(ask({ ...base, txId: 'tx-2' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(w.asked).toHaveLength(0);
  });
});
