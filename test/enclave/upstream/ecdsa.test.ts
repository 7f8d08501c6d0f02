// Threshold ECDSA through the real coordinator client and the reference coordinator over loopback
// TLS, with the test-only fake protocol (test/support/fake-ecdsa.ts) on both sides: pairing runs
// the ECDSA key generation over the round relay, signing runs sign.commit + sign.round 2/3 from the
// coordinator's REST API at the root and at a derived path, every signature checked by noble, by
// node:crypto (DER) and by key recovery; refresh-key clears the mark and keeps the key, and a lost
// refresh commit is settled by the next refresh. Every envelope is checked against the schema.
import { createHash, createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { systemClock } from '../../../proto/ports.ts';
import { approvalDigest, CoordinatorClient } from '../../../enclave/upstream/client.ts';
import { inProcessHost } from '../../../enclave/mpc/ecdsa/host/host.ts';
import { refreshEcdsaKey } from '../../../enclave/upstream/ecdsa-keys.ts';
import { FrostSigningSession } from '../../../enclave/mpc/signing-session.ts';
import { memoryUserStore } from '../../../enclave/upstream/user-store.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../../local/coordinator/server.ts';
import { EnvelopeRecorder } from '../../proto/coordinator/schema-check.ts';
import { testAttestation } from '../../support/attested.ts';
import { fakeEcdsaProtocols } from '../../support/fake-ecdsa.ts';

const envelopes = vi.hoisted(() => ({ recorder: null as null | { record(v: unknown): void } }));
vi.mock('../../../proto/coordinator/framing.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../proto/coordinator/framing.ts')>();
  return { ...real, encodeFrame: (value: unknown) => (envelopes.recorder?.record(value), real.encodeFrame(value)) };
});
const recorder = new EnvelopeRecorder();
envelopes.recorder = recorder;

const fake = fakeEcdsaProtocols();
const host = inProcessHost(fake);
const users = memoryUserStore();
let coord: RunningCoordinator;
let client: CoordinatorClient;
let handlerCalls = 0;

beforeAll(async () => {
  const ca = await createEphemeralCa('ecdsa coordinator CA');
  const att = await testAttestation();
  coord = await startCoordinator({ tls: await ca.issueServerCert(), attestation: att.policy, ecdsaProtocols: fake });
  const kp = generateKeyPairSync('ed25519');
  const id = { cosignerId: 'cosigner-ecdsa', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
  client = new CoordinatorClient({
    dial: async (h, p) => net.connect({ host: h, port: p }), clock: systemClock, identity: id,
    attest: att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem), ownerPublicKeyPem: coord.ownerPublicKeyPem,
    coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem }, tls: { ca: ca.certPem }, users, ecdsaHost: host,
    approve: async (_u, req) => (req.kind === 'sign' && handlerCalls++, { approved: true, payloadDigest: approvalDigest(req) }),
  }).start();
  await client.waitConnected(10_000);
});

afterAll(async () => {
  await client?.stop();
  await coord?.close();
});

const SPKI_SECP256K1 = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');

/** noble verify, node:crypto verify of the DER form over the preimage, and key recovery. */
function checkSignature(publicKeyHex: string, preimage: Buffer, signatureHex: string, recovery: number): void {
  const digest = createHash('sha256').update(preimage).digest();
  const pub = Buffer.from(publicKeyHex, 'hex');
  const compact = Buffer.from(signatureHex, 'hex');
  expect(secp256k1.verify(compact, digest, pub, { prehash: false, lowS: true })).toBe(true);
  const sig = secp256k1.Signature.fromBytes(compact, 'compact');
  expect(sig.hasHighS()).toBe(false);
  const der = sig.toBytes('der');
  expect(nodeVerify('sha256', preimage, createPublicKey({ key: Buffer.concat([SPKI_SECP256K1, pub]), format: 'der', type: 'spki' }), der)).toBe(true);
  expect(sig.addRecoveryBit(recovery).recoverPublicKey(digest).toHex(true)).toBe(publicKeyHex);
}

async function sign(preimage: Buffer, path = '[ ]'): Promise<Record<string, any>> {
  const payload = createHash('sha256').update(preimage).digest('hex');
  return (await coord.createTransaction({ userId: 'alice', scheme: 'dkls23-secp256k1', asset: 'ETH', amountStr: '1', destAddress: '0xabc', rawTx: [{ keyDerivationPath: path, format: 'raw', rawTx: payload, payload }] })) as unknown as Record<string, any>;
}

describe('threshold ECDSA through the coordinator client and the reference coordinator (fake protocol)', () => {
  let keyId = '';
  let groupPublicKey = '';
  let chainCode = '';

  it('pairs: the ECDSA key comes out of the relayed DKG, both sides agree, the summary lists it', async () => {
    const record = await client.pair(coord.issuePairingToken('alice', 'ws'), { schemes: ['dkls23-secp256k1', 'frost-ed25519'] });
    const k = record.keyShares.find((x) => x.scheme === 'dkls23-secp256k1');
    expect(k).toMatchObject({ threshold: 2, participants: [1, 2], identifier: 1, ecdsa: { pairwise: { 2: expect.any(String) } } });
    keyId = k!.keyId;
    groupPublicKey = k!.groupPublicKey;
    chainCode = k!.chainCode as string;
    users.put(record);
    await client.send('pair.commit', { pairingId: record.pairingId });
    const shown = (await (await fetch(`${coord.restUrl}/v1/users/alice`)).json()) as { pairing: { keys: { keyId: string; scheme: string }[] } };
    expect(shown.pairing.keys).toContainEqual(expect.objectContaining({ keyId, scheme: 'dkls23-secp256k1' }));
    await coord.approveUser('alice');
    expect(users.get('alice')?.status).toBe('active');
  });

  it('signs a 32-byte digest at the root and at m/44/60/0/0/0; the derived key is BIP-32 of the group key', async () => {
    const root = await sign(Buffer.from('root message'));
    expect(root).toMatchObject({ status: 'signed', verified: true, publicKey: groupPublicKey });
    checkSignature(root.entries[0].publicKey, Buffer.from('root message'), root.entries[0].signature, root.entries[0].recovery);
    const derived = await sign(Buffer.from('derived message'), '[ 44, 60, 0, 0, 0 ]');
    expect(derived.status).toBe('signed');
    const hd = new HDKey({ publicKey: Buffer.from(groupPublicKey, 'hex'), chainCode: Buffer.from(chainCode, 'hex') }).derive('m/44/60/0/0/0');
    expect(derived.entries[0].publicKey).toBe(Buffer.from(hd.publicKey as Uint8Array).toString('hex'));
    checkSignature(derived.entries[0].publicKey, Buffer.from('derived message'), derived.entries[0].signature, derived.entries[0].recovery);
    expect(client.openSessions()).toBe(0);
  });

  it('a marked key is refused before the handler; refresh-key clears the mark and the key signs again with the same public key', async () => {
    await users.markRefreshRequired('alice', keyId, { at: 1, peer: 2, check: 'test' });
    const calls = handlerCalls;
    const refused = await sign(Buffer.from('while marked'));
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'ERR_KEY_REFRESH_REQUIRED' } });
    expect(handlerCalls).toBe(calls);
    const before = users.get('alice')!.keyShares.find((k) => k.keyId === keyId)!;
    const r = await client.refreshKey('alice', keyId);
    expect(r).toMatchObject({ keyId, groupPublicKey });
    const after = users.get('alice')!.keyShares.find((k) => k.keyId === keyId)!;
    expect(after.ecdsa?.refreshRequired).toBeUndefined();
    expect(after.verifyingShares).not.toEqual(before.verifyingShares);
    expect(after.chainCode).toBe(chainCode);
    const again = await sign(Buffer.from('after refresh'));
    expect(again).toMatchObject({ status: 'signed', verified: true, publicKey: groupPublicKey });
    checkSignature(again.entries[0].publicKey, Buffer.from('after refresh'), again.entries[0].signature, again.entries[0].recovery);
  });

  it('a refresh whose commit never reached the coordinator is settled by the next refresh', async () => {
    const dropCommit = { request: async (type: string, body: unknown, o?: { timeoutMs?: number }) => {
      if (type === 'ecdsa.refresh.commit') throw Object.assign(new Error('lost'), { code: 'ERR_COORDINATOR_UNAVAILABLE' });
      return client.send(type, body, o);
    } };
    await expect(refreshEcdsaKey({ coordinator: dropCommit, host, users, now: Date.now() }, 'alice', keyId)).rejects.toMatchObject({ code: 'ERR_WRITE_UNACKNOWLEDGED' });
    // The co-signer sealed shares the coordinator kept aside: the next refresh starts from them.
    await expect(client.refreshKey('alice', keyId)).resolves.toMatchObject({ keyId, groupPublicKey });
    expect((await sign(Buffer.from('settled'))).status).toBe('signed');
  });

  it('FROST paths refuse the ECDSA key and the ECDSA refresh refuses a FROST key', async () => {
    const frost = users.get('alice')!.keyShares.find((k) => k.scheme === 'frost-ed25519')!;
    await expect(client.refreshKey('alice', frost.keyId)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_SCHEME' });
    const ecdsaKey = users.get('alice')!.keyShares.find((k) => k.keyId === keyId)!;
    expect(() => new FrostSigningSession({ sessionId: 's', key: ecdsaKey, message: new Uint8Array(32), signers: [1, 2] })).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_SCHEME' }));
  });

  it('every envelope both sides sent matches proto/coordinator.schema.json', () => {
    expect(recorder.errors()).toEqual([]);
  });
});
