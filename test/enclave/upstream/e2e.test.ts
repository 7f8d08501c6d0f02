// End to end within the threshold-signing area: the reference coordinator and the enclave's
// coordinator client over loopback TLS: pair (DKG), owner approval, policy, sign, verify.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import { systemClock } from '../../../proto/ports.ts';
import { approvalDigest, CoordinatorClient, type ApproveFn, type SignApprovalRequest } from '../../../enclave/upstream/client.ts';
import { CONFIG_CHANGE_TYPES } from '../../../enclave/approval/payload.ts';
import { memoryUserStore } from '../../../enclave/upstream/user-store.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../../local/coordinator/server.ts';
import { EnvelopeRecorder } from '../../proto/coordinator/schema-check.ts';
import { testAttestation } from '../../support/attested.ts';

// Every envelope either side frames (the client and the coordinator share proto/coordinator/framing.ts)
// is recorded and checked against proto/coordinator.schema.json by the last test of this file.
const envelopes = vi.hoisted(() => ({ recorder: null as null | { record(v: unknown): void } }));
vi.mock('../../../proto/coordinator/framing.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../proto/coordinator/framing.ts')>();
  return { ...real, encodeFrame: (value: unknown) => (envelopes.recorder?.record(value), real.encodeFrame(value)) };
});
const recorder = new EnvelopeRecorder();
envelopes.recorder = recorder;

let coord: RunningCoordinator;
let client: CoordinatorClient;
let caPem: string;
let att: Awaited<ReturnType<typeof testAttestation>>;
const users = memoryUserStore();
let approveImpl: ApproveFn = async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) });
const approvalsSeen: string[] = [];

function identity() {
  const kp = generateKeyPairSync('ed25519');
  return { cosignerId: 'cosigner-e2e', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
}

beforeAll(async () => {
  const ca = await createEphemeralCa('e2e coordinator CA');
  caPem = ca.certPem;
  att = await testAttestation();
  coord = await startCoordinator({ tls: await ca.issueServerCert(), cryptoWorkers: 1, attestation: att.policy }); // signing in a worker thread, as main.ts does
  const id = identity();
  client = new CoordinatorClient({
    dial: async (host, port) => net.connect({ host, port }),
    clock: systemClock,
    identity: id,
    attest: att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem),
    ownerPublicKeyPem: coord.ownerPublicKeyPem,
    coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem },
    tls: { ca: caPem },
    users,
    approve: async (u, req) => {
      approvalsSeen.push(req.kind);
      return approveImpl(u, req);
    },
  }).start();
  await client.waitConnected(10_000);
});

afterAll(async () => {
  await client?.stop();
  await coord?.close();
});

async function rest(path: string, method = 'GET', body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(coord.restUrl + path, { method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  return { status: res.status, json: await res.json() };
}

describe('reference coordinator ↔ enclave coordinator client', () => {
  it('pairs a user (DKG for every default scheme, threshold ECDSA included), keeps it pending until the owner approves, then signs', async () => {
    const { json } = await rest('/v1/pairing-tokens', 'POST', { userId: 'alice', workspace: 'ws-1' });
    const record = await client.pair(json.token);
    expect(record).toMatchObject({ id: 'alice', workspace: 'ws-1', status: 'pending' });
    expect(record.keyShares.map((k) => k.scheme).sort()).toEqual(['dkls23-secp256k1', 'frost-ed25519', 'frost-secp256k1-tr']);
    users.put(record); // what the vault seals
    // Sealed: the second phase commits the user at the coordinator.
    expect(await client.send('pair.commit', { pairingId: record.pairingId })).toEqual({ userId: 'alice' });

    const payload = Buffer.from('transfer 1 SOL to 9xQe...').toString('hex');
    const pending = await rest('/v1/transactions', 'POST', { userId: 'alice', asset: 'SOL', amount: '1', destination: 'dest-1', payload, scheme: 'frost-ed25519' });
    expect(pending.status).toBe(502);
    expect(pending.json.error.code).toBe('ERR_USER_PENDING');

    // What the owner is shown before approving: the co-signer's pairing summary (t and n per key).
    const shown = await rest('/v1/users/alice');
    expect(shown.json).toMatchObject({ id: 'alice', status: 'pending', cosignerId: 'cosigner-e2e', pairing: { handlerUrl: null, summary: { userId: 'alice', cosignerId: 'cosigner-e2e' } } });
    expect(shown.json.pairing.keys).toHaveLength(3);
    for (const k of shown.json.pairing.keys) expect(k).toMatchObject({ t: 2, n: 2, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await rest('/v1/users/nobody')).status).toBe(404);
    expect((await rest('/v1/users/alice/approve', 'POST')).status).toBe(200);
    expect(users.get('alice')?.status).toBe('active');

    for (const scheme of ['frost-ed25519', 'frost-secp256k1-tr'] as const) {
      const r = await rest('/v1/transactions', 'POST', { userId: 'alice', asset: 'BTC', amount: '0.5', destination: 'dest-1', payload, scheme });
      expect(r.status).toBe(201);
      expect(r.json).toMatchObject({ status: 'signed', verified: true, approval: { decision: 'approve' } });
      const sig = Buffer.from(r.json.signature, 'hex');
      const pub = Buffer.from(r.json.publicKey, 'hex');
      const msg = Buffer.from(payload, 'hex');
      // Independent verifiers: node:crypto Ed25519 / BIP-340 schnorr.verify.
      if (scheme === 'frost-secp256k1-tr') expect(schnorr.verify(sig, msg, pub)).toBe(true);
      expect(verifyWithStandardVerifier(scheme, pub, msg, sig)).toBe(true);
      const got = await rest(`/v1/transactions/${r.json.id}`);
      expect(got.json.status).toBe('signed');
    }
    expect(approvalsSeen).toContain('transaction');
    expect(approvalsSeen).toContain('sign');
    expect(client.openSessions()).toBe(0);
  });

  it('refuses a reused pairing token before any DKG', async () => {
    const token = coord.issuePairingToken('bob', 'ws-1');
    const record = await client.pair(token, { schemes: ['frost-secp256k1-tr'] });
    users.put(record);
    await client.send('pair.commit', { pairingId: record.pairingId });
    await expect(client.pair(token)).rejects.toMatchObject({ code: 'ERR_PAIRING_TOKEN_REUSED' });
  });

  it('policy: block and allow rules', async () => {
    await rest('/v1/policy', 'PUT', { rules: [{ asset: 'DOGE', action: 'block' }, { asset: 'BTC', maxAmount: '10', action: 'allow' }], defaultAction: 'block' });
    const payload = 'aa'.repeat(32);
    const blocked = await rest('/v1/transactions', 'POST', { userId: 'alice', asset: 'DOGE', amount: '1', destination: 'd', payload });
    expect(blocked.status).toBe(403);
    expect(blocked.json.status).toBe('blocked');
    const allowed = await rest('/v1/transactions', 'POST', { userId: 'alice', asset: 'BTC', amount: '9.99', destination: 'd', payload, scheme: 'frost-secp256k1-tr' });
    expect(allowed.json).toMatchObject({ status: 'signed', verified: true });
    expect(allowed.json.approval).toBeUndefined();
    const tooMuch = await rest('/v1/transactions', 'POST', { userId: 'alice', asset: 'BTC', amount: '10', destination: 'd', payload });
    expect(tooMuch.json.status).toBe('blocked');
    await rest('/v1/policy', 'PUT', { rules: [], defaultAction: 'require-approval' });
  });

  it('the approval step rejecting, or approving another payload, means no signature', async () => {
    const payload = 'bb'.repeat(40);
    approveImpl = async (_u, req) => ({ approved: false, payloadDigest: approvalDigest(req), reason: 'no' });
    const rejected = await rest('/v1/transactions', 'POST', { userId: 'alice', asset: 'BTC', amount: '1', destination: 'd', payload });
    expect(rejected.status).toBe(403);
    expect(rejected.json.status).toBe('rejected');
    expect(rejected.json.signature).toBeUndefined();

    // The handler approved a different message than the one the session would sign.
    approveImpl = async (_u, req) => ({ approved: true, payloadDigest: approvalDigest({ ...req, rawTx: req.rawTx.map((r) => ({ ...r, payload: 'cc'.repeat(40) })) }) });
    const mismatch = await rest('/v1/transactions', 'POST', { userId: 'alice', asset: 'BTC', amount: '1', destination: 'd', payload, scheme: 'frost-ed25519' });
    expect(mismatch.json.status).toBe('failed');
    expect(mismatch.json.error.code).toBe('ERR_MESSAGE_MISMATCH');
    expect(mismatch.json.signature).toBeUndefined();
    expect(client.openSessions()).toBe(0);
    approveImpl = async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) });
  });

  it('a full transaction description: each rawTx entry signs in its own session and verifies with its key', async () => {
    const seen: SignApprovalRequest[] = [];
    approveImpl = async (_u, req) => (seen.push(req), { approved: true, payloadDigest: approvalDigest(req) });
    const body = {
      userId: 'alice', scheme: 'frost-ed25519', operation: 'RAW', asset: 'ETH', amountStr: '1', requestedAmountStr: '1', destAddress: 'd', note: 'two messages',
      rawTx: [{ keyDerivationPath: '[ ]', format: 'raw', rawTx: 'a1'.repeat(32), payload: 'a1'.repeat(32) }, { keyDerivationPath: '[ ]', format: 'raw', rawTx: 'b2'.repeat(40), payload: 'b2'.repeat(40) }],
    };
    const r = await rest('/v1/transactions', 'POST', body);
    expect(r.json.status).toBe('signed');
    expect(r.json.entries).toHaveLength(2);
    for (const e of r.json.entries) expect(e).toMatchObject({ keyDerivationPath: '[ ]', verified: true, signature: expect.stringMatching(/^[0-9a-f]{128}$/) });
    const sign = seen.find((q) => q.kind === 'sign');
    expect(sign?.rawTx.map((x) => x.payload)).toEqual(['a1'.repeat(32), 'b2'.repeat(40)]);
    expect(sign?.payload).toMatchObject({ txId: r.json.id, operation: 'RAW', note: 'two messages' });
    const approval = seen.find((q) => q.kind === 'transaction');
    expect(approval?.payload).toMatchObject({ txId: r.json.id, asset: 'ETH' });
    expect(approval?.payload).not.toHaveProperty('rawTx');
    expect((await rest('/v1/transactions', 'POST', { ...body, rawTx: [{ ...body.rawTx[0], payload: 'cc'.repeat(32) }] })).json.error.code).toBe('ERR_PAYLOAD_MISMATCH');
    approveImpl = async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) });
  });

  it('configuration changes: every documented type reaches the approval step, the signed decision is verified and honoured', async () => {
    const types: string[] = [];
    approveImpl = async (_u, req) => (types.push(String(req.payload?.type)), { approved: req.payload?.type !== 'POLICY_CHANGE', payloadDigest: approvalDigest(req) });
    for (const type of CONFIG_CHANGE_TYPES) {
      const c = await rest('/v1/config-changes', 'POST', { userId: 'alice', type, extraInfo: { note: type } });
      expect(c.json.status).toBe(type === 'POLICY_CHANGE' ? 'rejected' : 'approved');
      expect(c.json.approval.decision).toBe(type === 'POLICY_CHANGE' ? 'reject' : 'approve');
      expect((await rest(`/v1/config-changes/${c.json.id}`)).json.status).toBe(c.json.status);
    }
    expect(types).toEqual([...CONFIG_CHANGE_TYPES]);
    expect((await rest('/v1/config-changes', 'POST', { userId: 'alice', type: 'drop tables' })).status).toBe(400);
    approveImpl = async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) });
  });

  it('status API reports the connected co-signer', async () => {
    const s = await rest('/v1/status');
    expect(s.json.cosigners).toEqual([{ id: 'cosigner-e2e', connected: true }]);
    expect(s.json.users).toBe(2);
  });
});

describe('n-of-n with the reference coordinator (3-of-3, vault-backed user store)', () => {
  it('pairs through a vault-backed client (as real-backends wires it), activates through the vault, signs with BIP-340 output', async () => {
    const { userStoreFromVault } = await import('../../../enclave/upstream/user-store.ts');
    const ca = await createEphemeralCa('t-of-n CA');
    // n-of-n: the threshold rule refuses any t-of-n where the other parties could sign without us
    // (test/attacks/threshold.test.ts covers 2-of-3).
    const c3 = await startCoordinator({ tls: await ca.issueServerCert(), threshold: 3, participants: 3, attestation: att.policy });
    const id = identity();
    let state = {
      formatVersion: 1 as const,
      identity: { cosignerId: 'cosigner-3', callbackSigningKeyPkcs8: '', coordinatorAuthKeyPkcs8: id.coordinatorAuthKeyPkcs8 },
      coordinator: { url: c3.cosignerUrl, publicKeyPem: c3.publicKeyPem },
      kms: { keyArn: 'arn:aws:kms:eu-west-1:000000000000:key/x', region: 'eu-west-1' },
      owner: { publicKeyPem: c3.ownerPublicKeyPem },
      users: [] as import('../../../enclave/vault/records.ts').ApiUserRecord[],
    };
    const vault = { get state() { return state; }, update: async (m: (s: typeof state) => typeof state) => void (state = m(state)) };
    const up = new CoordinatorClient({
      dial: async (host, port) => net.connect({ host, port }),
      clock: systemClock,
      identity: state.identity,
      coordinator: state.coordinator,
      attest: att.attestFor(state.identity, c3.publicKeyPem, c3.ownerPublicKeyPem),
      ownerPublicKeyPem: state.owner.publicKeyPem,
      tls: { ca: ca.certPem },
      users: userStoreFromVault(vault),
      approve: async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) }),
    }).start();
    try {
      await up.waitConnected(10_000);
      const record = await up.pair(c3.issuePairingToken('carol', 'ws-3'), { schemes: ['frost-secp256k1-tr'] });
      expect(record.keyShares[0]).toMatchObject({ threshold: 3, participants: [1, 2, 3], identifier: 1 });
      await vault.update((s) => ({ ...s, users: [...s.users, record] }));
      await up.send('pair.commit', { pairingId: record.pairingId });
      await c3.approveUser('carol');
      expect(state.users[0]?.status).toBe('active');
      const payload = 'dd'.repeat(32);
      const tx = await c3.createTransaction({ userId: 'carol', asset: 'BTC', amount: '2', destination: 'bc1-dest', payload, scheme: 'frost-secp256k1-tr' });
      expect(tx).toMatchObject({ status: 'signed', verified: true });
      expect(schnorr.verify(Buffer.from(tx.signature!, 'hex'), Buffer.from(payload, 'hex'), Buffer.from(tx.publicKey!, 'hex'))).toBe(true);
      expect(up.state()).toBe('connected');
    } finally {
      await up.stop();
      await c3.close();
    }
  });

  // Runs last: by now the tests above drove pairing, DKG, activation, approvals, signing and aborts.
  it('every envelope both sides sent matches proto/coordinator.schema.json', () => {
    const kinds = recorder.kinds();
    for (const k of ['c2s hello', 's2c welcome', 'c2s attest', 's2c reply:attest', 'c2s pair.challenge', 's2c reply:pair.challenge', 'c2s pair.summary', 'c2s pair.register', 's2c reply:pair.register', 'c2s dkg.round1', 'c2s dkg.round2', 'c2s dkg.finish', 's2c reply:dkg.finish', 's2c user.activate', 'c2s reply:user.activate', 's2c sign.commit', 'c2s reply:sign.commit', 's2c sign.share', 'c2s reply:sign.share', 's2c approval.request', 'c2s reply:approval.request', 'c2s audit.record', 's2c reply:audit.record']) {
      expect(kinds, k).toContain(k);
    }
    expect(recorder.errors()).toEqual([]);
  });
});
