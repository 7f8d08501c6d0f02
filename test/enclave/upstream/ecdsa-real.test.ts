// Threshold ECDSA with the real DKLs23 protocol and OT layer: the real coordinator client (its
// parties on the ECDSA worker threads) and the reference coordinator over loopback TLS. Pairing
// makes the key through the relayed DKG; signing at the root and at m/44/60/0/0/0 verifies with
// noble, node:crypto (DER) and recovery; a coordinator tampering with a sign.round message is
// caught by the protocol (ERR_PEER_CHEATED naming participant 2), the key is marked, refused before
// the handler, and refresh-key brings it back with the same public key.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../proto/ports.ts';
import { approvalDigest, CoordinatorClient } from '../../../enclave/upstream/client.ts';
import { memoryUserStore } from '../../../enclave/upstream/user-store.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../../local/coordinator/server.ts';
import { ecdsaTxTestHooks } from '../../../local/coordinator/ecdsa-tx-sign.ts';
import { testAttestation } from '../../support/attested.ts';
import { ecdsaAvailable, ecdsaChecks } from '../../support/ecdsa.ts';
import { createHash } from 'node:crypto';

const users = memoryUserStore();
let coord: RunningCoordinator;
let client: CoordinatorClient;
let signCalls = 0;

describe.skipIf(!ecdsaAvailable)('threshold ECDSA with the real protocol: client ↔ reference coordinator', () => {
  beforeAll(async () => {
    const ca = await createEphemeralCa('ecdsa-real CA');
    const att = await testAttestation();
    coord = await startCoordinator({ tls: await ca.issueServerCert(), attestation: att.policy });
    const kp = generateKeyPairSync('ed25519');
    const id = { cosignerId: 'cosigner-ecdsa-real', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
    client = new CoordinatorClient({
      dial: async (h, p) => net.connect({ host: h, port: p }), clock: systemClock, identity: id,
      attest: att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem), ownerPublicKeyPem: coord.ownerPublicKeyPem,
      coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem }, tls: { ca: ca.certPem }, users,
      approve: async (_u, req) => (req.kind === 'sign' && signCalls++, { approved: true, payloadDigest: approvalDigest(req) }),
    }).start();
    await client.waitConnected(10_000);
  }, 60_000);
  afterAll(async () => {
    delete ecdsaTxTestHooks.tamper;
    await client?.stop();
    await coord?.close();
  });

  let keyId = '';
  let groupPublicKey = '';
  const sign = async (preimage: string, path = '[ ]') => {
    const payload = createHash('sha256').update(preimage).digest('hex');
    return (await coord.createTransaction({ userId: 'alice', scheme: 'dkls23-secp256k1', asset: 'ETH', amountStr: '1', destAddress: '0xabc', rawTx: [{ keyDerivationPath: path, format: 'raw', rawTx: payload, payload }] })) as unknown as Record<string, any>;
  };

  it('pairs (relayed DKLs23 key generation) and signs at the root and at a derived path', async () => {
    const t0 = performance.now();
    const record = await client.pair(coord.issuePairingToken('alice', 'ws'), { schemes: ['dkls23-secp256k1'] });
    const pairMs = performance.now() - t0;
    const k = record.keyShares[0]!;
    expect(k).toMatchObject({ scheme: 'dkls23-secp256k1', identifier: 1, ecdsa: { pairwise: { 2: expect.any(String) } } });
    keyId = k.keyId;
    groupPublicKey = k.groupPublicKey;
    users.put(record);
    await client.send('pair.commit', { pairingId: record.pairingId });
    await coord.approveUser('alice');
    const t1 = performance.now();
    const root = await sign('real root');
    const signMs = performance.now() - t1;
    expect(root).toMatchObject({ status: 'signed', verified: true, publicKey: groupPublicKey });
    expect(ecdsaChecks(root.entries[0].publicKey, Buffer.from('real root'), root.entries[0].signature, root.entries[0].recovery)).toEqual({ noble: true, node: true, recovered: true, lowS: true });
    const derived = await sign('real derived', '[ 44, 60, 0, 0, 0 ]');
    expect(derived).toMatchObject({ status: 'signed', verified: true });
    expect(ecdsaChecks(derived.entries[0].publicKey, Buffer.from('real derived'), derived.entries[0].signature, derived.entries[0].recovery)).toEqual({ noble: true, node: true, recovered: true, lowS: true });
    process.stdout.write(`ecdsa-real: pairing (DKG) ${pairMs.toFixed(0)} ms, one signature ${signMs.toFixed(0)} ms\n`);
  }, 120_000);

  it('a tampered round-2 message: ERR_PEER_CHEATED blaming participant 2, key marked, refused before the handler; refresh-key restores it', async () => {
    ecdsaTxTestHooks.tamper = (round, messages) => (round === 3 ? messages.map((m) => ({ ...m, payload: Buffer.from(Buffer.from(m.payload, 'base64').map((b, i) => (i === 40 ? b ^ 1 : b))).toString('base64') })) : messages);
    const cheated = await sign('tampered');
    delete ecdsaTxTestHooks.tamper;
    expect(cheated).toMatchObject({ status: 'failed', error: { code: 'ERR_PEER_CHEATED', details: { identifier: 2 } } });
    expect(users.get('alice')!.keyShares[0]!.ecdsa?.refreshRequired).toMatchObject({ peer: 2 });
    const calls = signCalls;
    expect((await sign('while marked')).error?.code).toBe('ERR_KEY_REFRESH_REQUIRED');
    expect(signCalls).toBe(calls);
    await expect(client.refreshKey('alice', keyId)).resolves.toMatchObject({ keyId, groupPublicKey });
    expect(users.get('alice')!.keyShares[0]!.ecdsa?.refreshRequired).toBeUndefined();
    const again = await sign('after refresh', '[ 44, 60, 0, 0, 1 ]');
    expect(again).toMatchObject({ status: 'signed', verified: true });
    expect(ecdsaChecks(again.entries[0].publicKey, Buffer.from('after refresh'), again.entries[0].signature, again.entries[0].recovery).recovered).toBe(true);
    expect(client.openSessions()).toBe(0);
  }, 180_000);
});
