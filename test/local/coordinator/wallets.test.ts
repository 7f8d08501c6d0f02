// Reference coordinator wallets: derived vault addresses and transfers built as real Bitcoin / Solana
// transactions, signed through the enclave's coordinator client over loopback TLS (the co-signer
// side recomputes every payload from its raw transaction), and the two tamper modes refused.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { OutScript, Transaction } from '@scure/btc-signer';
import { base58, base64, hex } from '@scure/base';
import { getTransactionDecoder } from '@solana/kit';
import { systemClock } from '../../../proto/ports.ts';
import { approvalDigest, CoordinatorClient, type ApproveFn, type SignApprovalRequest } from '../../../enclave/upstream/client.ts';
import { memoryUserStore } from '../../../enclave/upstream/user-store.ts';
import { derivePublicKey } from '../../../enclave/mpc/derivation.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../../local/coordinator/server.ts';
import { walletAddress } from '../../../local/coordinator/wallets.ts';
import type { CoordinatorState } from '../../../local/coordinator/state.ts';
import { taprootSighashes, taprootAddress } from '../../../local/chains/bitcoin.ts';
import { readSolanaTransaction, solanaAddress } from '../../../local/chains/solana.ts';
import { decideTx } from '../../../local/callback-handler/rules.ts';
import { testAttestation } from '../../support/attested.ts';
import { ecdsaKey, ed25519Key, taprootKey } from '../chains/keys.ts';
import { ecdsaAvailable } from '../chains/ecdsa-available.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak256, parseTransaction, recoverTransactionAddress, type Hex } from 'viem';
import { segwitAddress, segwitSighashes } from '../../../local/chains/bitcoin.ts';
import { ethereumAddress } from '../../../local/chains/ethereum.ts';

let coord: RunningCoordinator;
let client: CoordinatorClient;
const users = memoryUserStore();
/** Every approval request the co-signer side made (what its Callback Handler would be asked). */
const asked: SignApprovalRequest[] = [];

/** A handler written like the sample one: signing-stage requests must match their raw transactions. */
const handlerLike: ApproveFn = async (_u, req) => {
  asked.push(req);
  const tx = { ...req.payload, requestId: req.txId, ...(req.kind === 'sign' ? { rawTx: req.rawTx.map((r) => ({ keyDerivationPath: r.keyDerivationPath, format: r.format, rawTx: r.rawTx, payload: r.payload })) } : {}) };
  const v = decideTx({ requireRawTxFormat: true }, tx, 0);
  return { approved: v.action === 'APPROVE', payloadDigest: approvalDigest(req), ...(v.rejectionReason ? { reason: v.rejectionReason } : {}) };
};

beforeAll(async () => {
  const ca = await createEphemeralCa('wallets test CA');
  const att = await testAttestation();
  coord = await startCoordinator({ tls: await ca.issueServerCert(), cryptoWorkers: 1, attestation: att.policy });
  const kp = generateKeyPairSync('ed25519');
  const id = { cosignerId: 'cosigner-wallets', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
  client = new CoordinatorClient({
    dial: async (host, port) => net.connect({ host, port }),
    clock: systemClock,
    identity: id,
    attest: att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem),
    ownerPublicKeyPem: coord.ownerPublicKeyPem,
    coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem },
    tls: { ca: ca.certPem },
    users,
    approve: handlerLike,
  }).start();
  await client.waitConnected(10_000);
  // With threshold ECDSA built, alice also gets the dkls23 key the ETH_TEST / BTC_TEST_SEGWIT wallets use.
  const record = await client.pair(coord.issuePairingToken('alice', 'ws-1'), ecdsaAvailable ? { schemes: ['frost-ed25519', 'frost-secp256k1-tr', 'dkls23-secp256k1'] } : {});
  users.put(record);
  await client.send('pair.commit', { pairingId: record.pairingId });
  expect((await rest('/v1/users/alice/approve', 'POST')).status).toBe(200);
  // Straight to signing: the handler is asked once per transfer, with the raw transaction.
  await rest('/v1/policy', 'PUT', { rules: ['BTC_TEST', 'SOL_TEST', 'ETH_TEST', 'BTC_TEST_SEGWIT'].map((asset) => ({ asset, action: 'allow' })), defaultAction: 'require-approval' });
}, 60_000);

afterAll(async () => {
  await client?.stop();
  await coord?.close();
});

async function rest(path: string, method = 'GET', body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(coord.restUrl + path, { method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  return { status: res.status, json: await res.json() };
}

const btcTo = taprootAddress(taprootKey(7).outputKey);
const solTo = solanaAddress(ed25519Key(7).publicKey);

describe('reference coordinator wallets', () => {
  it('derives one address per vault and asset at [44, coin, vault, 0, 0]', async () => {
    const btc = await rest('/v1/users/alice/addresses?asset=BTC_TEST&vault=0');
    expect(btc.status).toBe(200);
    expect(btc.json).toMatchObject({ asset: 'BTC_TEST', vault: 0, keyDerivationPath: '[ 44, 1, 0, 0, 0 ]', address: expect.stringMatching(/^tb1p[02-9ac-hj-np-z]{58}$/) });
    const key = users.get('alice')!.keyShares.find((k) => k.scheme === 'frost-secp256k1-tr')!;
    const out = derivePublicKey(key, [44, 1, 0, 0, 0]);
    expect(btc.json.publicKey).toBe(hex.encode(out));
    expect(btc.json.address).toBe(taprootAddress(out));
    const sol = await rest('/v1/users/alice/addresses?asset=SOL_TEST&vault=1');
    expect(sol.json).toMatchObject({ asset: 'SOL_TEST', vault: 1, keyDerivationPath: '[ 44, 501, 1, 0, 0 ]' });
    expect(sol.json.address).toBe(solanaAddress(hex.decode(sol.json.publicKey)));
    expect((await rest('/v1/users/alice/addresses?asset=SOL_TEST&vault=0')).json.address).not.toBe(sol.json.address);
  });

  it('refuses unknown assets, bad vaults and unknown users; a key without a chain code has no vault addresses', async () => {
    expect((await rest('/v1/users/alice/addresses?asset=ETH&vault=0')).json.error.code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rest('/v1/users/alice/addresses?asset=__proto__&vault=0')).json.error.code).toBe('ERR_INVALID_ARGUMENT');
    for (const v of ['-1', '2147483648', '1.5', 'x']) expect((await rest(`/v1/users/alice/addresses?asset=BTC_TEST&vault=${v}`)).json.error.code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rest('/v1/users/nobody/addresses?asset=BTC_TEST&vault=0')).status).toBe(404);
    const legacy = { users: new Map([['old', { keys: [{ scheme: 'frost-ed25519', keyId: 'k-old', groupPublicKey: hex.encode(ed25519Key(3).publicKey), own: [] }] }]]) } as unknown as CoordinatorState;
    expect(() => walletAddress(legacy, 'old', 'SOL_TEST', 0)).toThrow(expect.objectContaining({ code: 'ERR_DERIVATION_UNSUPPORTED' }));
  });

  it('a BTC_TEST transfer spends the vault address; the signed transaction verifies against the spent output key', async () => {
    const from = (await rest('/v1/users/alice/addresses?asset=BTC_TEST&vault=0')).json;
    asked.length = 0;
    const r = await rest('/v1/transfers', 'POST', { userId: 'alice', asset: 'BTC_TEST', vault: 0, to: btcTo, amount: '0.00025', note: 'rent', externalTxId: 'ext-1' });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ status: 'signed', transfer: { from: from.address, to: btcTo, keyDerivationPath: '[ 44, 1, 0, 0, 0 ]' }, networkTxId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(r.json.request).toMatchObject({ operation: 'TRANSFER', sourceType: 'VAULT', sourceId: '0', destType: 'ONE_TIME', destAddress: btcTo, asset: 'BTC_TEST', amountStr: '0.00025000', requestedAmountStr: '0.00025000', note: 'rent', externalTxId: 'ext-1' });
    expect(r.json.request.destinations).toEqual([expect.objectContaining({ amountNativeStr: '0.00025000', displayDstAddress: btcTo })]);
    const psbt = Transaction.fromPSBT(hex.decode(r.json.entries[0].rawTx));
    const spent = OutScript.decode(psbt.getInput(0).witnessUtxo!.script);
    expect(spent).toMatchObject({ type: 'tr', pubkey: hex.decode(from.publicKey) });
    const signed = Transaction.fromRaw(hex.decode(r.json.signedTx));
    expect(signed.id).toBe(r.json.networkTxId);
    const sig = signed.getInput(0).finalScriptWitness![0]!;
    expect(schnorr.verify(sig, taprootSighashes(psbt)[0]!, hex.decode(from.publicKey))).toBe(true);
    expect(schnorr.verify(sig, new Uint8Array(32), hex.decode(from.publicKey))).toBe(false);
    const sign = asked.find((q) => q.kind === 'sign')!;
    expect(sign.rawTx).toEqual([expect.objectContaining({ keyDerivationPath: '[ 44, 1, 0, 0, 0 ]', format: 'bitcoin-psbt', rawTx: r.json.entries[0].rawTx, payload: r.json.entries[0].payload })]);
    expect((await rest(`/v1/transactions/${r.json.id}`)).json.signedTx).toBe(r.json.signedTx);
  });

  it('a SOL_TEST transfer from vault 1 carries an Ed25519 signature over the message', async () => {
    const from = (await rest('/v1/users/alice/addresses?asset=SOL_TEST&vault=1')).json;
    const r = await rest('/v1/transfers', 'POST', { userId: 'alice', asset: 'SOL_TEST', vault: 1, to: solTo, amount: '0.0015' });
    expect(r.json).toMatchObject({ status: 'signed', transfer: { from: from.address }, request: { amountStr: '0.001500000', fee: '0.000005000' } });
    const wire = getTransactionDecoder().decode(base64.decode(r.json.signedTx));
    const sig = wire.signatures[from.address]!;
    expect(base58.encode(sig)).toBe(r.json.networkTxId);
    expect(ed25519.verify(sig, Uint8Array.from(wire.messageBytes), hex.decode(from.publicKey))).toBe(true);
    expect(readSolanaTransaction(hex.decode(r.json.entries[0].rawTx)).transfers).toEqual([{ source: from.address, destination: solTo, lamports: 1_500_000n }]);
  });

  it('tamper payload: the co-signer refuses (ERR_PAYLOAD_MISMATCH) before any handler is asked', async () => {
    for (const [asset, to] of [['BTC_TEST', btcTo], ['SOL_TEST', solTo]]) {
      asked.length = 0;
      const r = await rest('/v1/transfers', 'POST', { userId: 'alice', asset, vault: 0, to, amount: '0.001', tamper: 'payload' });
      expect(r.json).toMatchObject({ status: 'failed', error: { code: 'ERR_PAYLOAD_MISMATCH' } });
      expect(r.json.signedTx).toBeUndefined();
      expect(r.json.entries[0].signature).toBeUndefined();
      expect(asked).toEqual([]);
    }
    expect(client.openSessions()).toBe(0);
  });

  it('tamper destination: the payload matches rawTx, but a handler reading rawTx rejects it', async () => {
    for (const [asset, to] of [['BTC_TEST', btcTo], ['SOL_TEST', solTo]]) {
      asked.length = 0;
      const r = await rest('/v1/transfers', 'POST', { userId: 'alice', asset, vault: 0, to, amount: '0.001', tamper: 'destination' });
      expect(r.status).toBe(403);
      expect(r.json).toMatchObject({ status: 'rejected', request: { destAddress: to } });
      expect(r.json.signedTx).toBeUndefined();
      expect(asked.map((q) => q.kind)).toEqual(['sign']);
      // and the description alone looks honest: only the raw transaction gives it away
      expect(decideTx({}, { ...asked[0]!.payload }, 0).action).toBe('APPROVE');
    }
  });

  it('validates the transfer request', async () => {
    const base = { userId: 'alice', asset: 'BTC_TEST', vault: 0, to: btcTo, amount: '0.001' };
    const bads: Record<string, unknown>[] = [
      { ...base, asset: 'BTC' }, { ...base, vault: -1 }, { ...base, to: 'bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr' },
      { ...base, to: solTo }, { ...base, asset: 'SOL_TEST', to: btcTo }, { ...base, amount: '0' }, { ...base, amount: '0.000000001' },
      { ...base, amount: 1 }, { ...base, tamper: 'fee' }, { ...base, extra: 1 }, { ...base, note: 'x'.repeat(2049) }, { ...base, destType: 'VAULT' },
    ];
    for (const b of bads) expect((await rest('/v1/transfers', 'POST', b)).json.error?.code, JSON.stringify(b).slice(0, 120)).toBe('ERR_INVALID_ARGUMENT');
    expect((await rest('/v1/transfers', 'POST', { ...base, userId: 'nobody' })).status).toBe(404);
  });
});

const ethTo = ethereumAddress(ecdsaKey(7).publicKey);
const segwitTo = segwitAddress(ecdsaKey(8).publicKey);

// Threshold ECDSA transfers need the dkls23 key every paired user gets once ECDSA signing is built.
describe.skipIf(!ecdsaAvailable)('reference coordinator wallets: threshold ECDSA transfers', () => {
  it('an ETH_TEST transfer is signed from the vault address; viem recovers that address as sender', async () => {
    const from = (await rest('/v1/users/alice/addresses?asset=ETH_TEST&vault=0')).json;
    expect(from).toMatchObject({ keyDerivationPath: '[ 44, 60, 0, 0, 0 ]', address: ethereumAddress(hex.decode(from.publicKey)) });
    asked.length = 0;
    const r = await rest('/v1/transfers', 'POST', { userId: 'alice', asset: 'ETH_TEST', vault: 0, to: ethTo.toLowerCase(), amount: '0.001' });
    expect(r.json, JSON.stringify(r.json.error)).toMatchObject({ status: 'signed', transfer: { from: from.address, to: ethTo }, request: { asset: 'ETH_TEST', amountStr: '0.001', destAddress: ethTo } });
    const signed = r.json.signedTx as Hex;
    expect(await recoverTransactionAddress({ serializedTransaction: signed as `0x02${string}` })).toBe(from.address);
    expect(parseTransaction(signed)).toMatchObject({ type: 'eip1559', chainId: 11155111, to: ethTo.toLowerCase(), value: 10n ** 15n });
    expect(r.json.networkTxId).toBe(keccak256(signed));
    const sign = asked.find((q) => q.kind === 'sign')!;
    expect(sign.rawTx).toEqual([expect.objectContaining({ keyDerivationPath: '[ 44, 60, 0, 0, 0 ]', format: 'ethereum', rawTx: r.json.entries[0].rawTx, payload: r.json.entries[0].payload })]);
  });

  it('a BTC_TEST_SEGWIT transfer spends the P2WPKH vault address; each witness verifies over its BIP-143 sighash', async () => {
    const from = (await rest('/v1/users/alice/addresses?asset=BTC_TEST_SEGWIT&vault=1')).json;
    expect(from.address).toMatch(/^tb1q/);
    const r = await rest('/v1/transfers', 'POST', { userId: 'alice', asset: 'BTC_TEST_SEGWIT', vault: 1, to: segwitTo, amount: '0.0002' });
    expect(r.json, JSON.stringify(r.json.error)).toMatchObject({ status: 'signed', transfer: { from: from.address } });
    const psbt = Transaction.fromPSBT(hex.decode(r.json.entries[0].rawTx));
    const signed = Transaction.fromRaw(hex.decode(r.json.signedTx));
    expect(signed.id).toBe(r.json.networkTxId);
    const [der, pub] = signed.getInput(0).finalScriptWitness!;
    expect(hex.encode(pub!)).toBe(from.publicKey);
    expect(secp256k1.verify(der!.subarray(0, -1), segwitSighashes(psbt)[0]!, pub!, { prehash: false, format: 'der' })).toBe(true);
  });

  it('tamper payload is refused by the co-signer, tamper destination by the handler, for both assets', async () => {
    for (const [asset, to] of [['ETH_TEST', ethTo], ['BTC_TEST_SEGWIT', segwitTo]]) {
      asked.length = 0;
      const p = await rest('/v1/transfers', 'POST', { userId: 'alice', asset, vault: 0, to, amount: '0.001', tamper: 'payload' });
      expect(p.json).toMatchObject({ status: 'failed', error: { code: 'ERR_PAYLOAD_MISMATCH' } });
      expect(asked).toEqual([]);
      const d = await rest('/v1/transfers', 'POST', { userId: 'alice', asset, vault: 0, to, amount: '0.001', tamper: 'destination' });
      expect(d.json).toMatchObject({ status: 'rejected' });
      expect(d.json.signedTx).toBeUndefined();
    }
  });
});
