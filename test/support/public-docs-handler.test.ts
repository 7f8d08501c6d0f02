import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { startPublicDocsHandler, type PublicDocsHandler } from './public-docs-handler.ts';
import { buildSegwitSpend, buildTaprootSpend, segwitAddress, taprootAddress } from '../../local/chains/bitcoin.ts';
import { buildSolanaTransfer, solanaAddress } from '../../local/chains/solana.ts';
import { buildEthereumTransfer, ethereumAddress } from '../../local/chains/ethereum.ts';
import { BLOCKHASH, ecdsaKey, ed25519Key, taprootKey, TXID_A } from '../local/chains/keys.ts';

const cosigner = generateKeyPairSync('rsa', { modulusLength: 2048 });
let handler: PublicDocsHandler;
beforeAll(async () => {
  handler = await startPublicDocsHandler({ cosignerPublicKeyPem: cosigner.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
});
afterAll(() => handler.close());

const PATH = '[ 44, 0, 0, 0, 0 ]';
const btcDest = taprootAddress(taprootKey(2).outputKey);
function btcRequest(requestId: string) {
  const s = buildTaprootSpend({ outputKey: taprootKey(1).outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }], to: btcDest, amount: 25_000n, feeRate: 2 });
  return { txId: requestId, requestId, operation: 'TRANSFER', asset: 'BTC_TEST', amountStr: s.amountStr, destAddress: btcDest, rawTx: s.entries.map((e) => ({ keyDerivationPath: PATH, ...e })), signerId: 'u1' };
}
const solDest = solanaAddress(ed25519Key(4).publicKey);
function solRequest(requestId: string) {
  const { entry, amountStr } = buildSolanaTransfer({ from: ed25519Key(3).publicKey, to: solDest, lamports: 7_000n, recentBlockhash: BLOCKHASH });
  return { txId: requestId, requestId, operation: 'TRANSFER', asset: 'SOL_TEST', amountStr, destAddress: solDest, rawTx: [{ keyDerivationPath: PATH, ...entry }], signerId: 'u1' };
}

/** Posts a request the way the co-signer does and returns the verified answer. */
async function ask(body: Record<string, unknown>, signWith = cosigner.privateKey): Promise<{ status: number; answer?: Record<string, unknown> }> {
  const jws = await new SignJWT(body).setProtectedHeader({ alg: 'RS256' }).sign(signWith);
  const res = await fetch(`${handler.url}/v2/tx_sign_request`, { method: 'POST', body: jws });
  if (res.status !== 200) return { status: res.status };
  const { payload } = await jwtVerify(await res.text(), createPublicKey(handler.publicKeyPem), { algorithms: ['RS256'] });
  return { status: 200, answer: payload as Record<string, unknown> };
}

describe('handler written from the public documentation', () => {
  it('approves honest Bitcoin and Solana requests, echoing requestId in a signed answer', async () => {
    expect((await ask(btcRequest('b1'))).answer).toMatchObject({ action: 'APPROVE', requestId: 'b1' });
    expect((await ask(solRequest('s1'))).answer).toMatchObject({ action: 'APPROVE', requestId: 's1' });
  });

  it('rejects tampered requests', async () => {
    const btc = btcRequest('b2');
    btc.rawTx[0] = { ...btc.rawTx[0]!, payload: 'cd'.repeat(32) };
    expect((await ask(btc)).answer).toMatchObject({ action: 'REJECT', requestId: 'b2' });
    expect((await ask({ ...btcRequest('b3'), amountStr: '0.0003' })).answer).toMatchObject({ action: 'REJECT' });
    expect((await ask({ ...solRequest('s2'), destAddress: solanaAddress(ed25519Key(9).publicKey) })).answer).toMatchObject({ action: 'REJECT' });
    expect((await ask({ ...solRequest('s3'), rawTx: [{ keyDerivationPath: PATH, format: 'solana', rawTx: 'ff', payload: 'ff' }] })).answer).toMatchObject({ action: 'REJECT' });
    expect((await ask({ ...solRequest('s4'), rawTx: [{ keyDerivationPath: PATH, rawTx: '', payload: 'ab' }] })).answer).toMatchObject({ action: 'REJECT' });
  });

  it('answers 401 to a request not signed by the co-signer', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(await ask(btcRequest('b4'), other.privateKey)).toEqual({ status: 401 });
  });
});

const ethDest = ethereumAddress(ecdsaKey(2).publicKey);
function ethRequest(requestId: string, value = 3n * 10n ** 14n) {
  const t = buildEthereumTransfer({ nonce: 1n, to: ethDest, value });
  return { txId: requestId, requestId, operation: 'TRANSFER', asset: 'ETH_TEST', amountStr: t.amountStr, destAddress: ethDest, rawTx: [{ keyDerivationPath: '[ 44, 60, 0, 0, 0 ]', ...t.entry }], signerId: 'u1' };
}
const segwitDest = segwitAddress(ecdsaKey(4).publicKey);
function segwitRequest(requestId: string) {
  const s = buildSegwitSpend({ publicKey: ecdsaKey(3).publicKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }], to: segwitDest, amount: 25_000n, feeRate: 2 });
  return { txId: requestId, requestId, operation: 'TRANSFER', asset: 'BTC_TEST_SEGWIT', amountStr: s.amountStr, destAddress: segwitDest, rawTx: s.entries.map((e) => ({ keyDerivationPath: PATH, ...e })), signerId: 'u1' };
}

describe('handler written from the public documentation: ECDSA transactions', () => {
  it('approves honest Ethereum (viem) and SegWit v0 requests', async () => {
    expect((await ask(ethRequest('e1'))).answer).toMatchObject({ action: 'APPROVE', requestId: 'e1' });
    expect((await ask({ ...ethRequest('e2'), destAddress: ethDest.toLowerCase() })).answer).toMatchObject({ action: 'APPROVE' });
    expect((await ask(segwitRequest('w1'))).answer).toMatchObject({ action: 'APPROVE', requestId: 'w1' });
  });

  it('rejects a tampered Ethereum payload, value or recipient, and a tampered SegWit payload', async () => {
    const eth = ethRequest('e3');
    eth.rawTx[0] = { ...eth.rawTx[0]!, payload: ethRequest('x', 1n).rawTx[0]!.payload };
    expect((await ask(eth)).answer).toMatchObject({ action: 'REJECT' });
    expect((await ask({ ...ethRequest('e4'), amountStr: '0.0004' })).answer).toMatchObject({ action: 'REJECT' });
    expect((await ask({ ...ethRequest('e5'), destAddress: ethereumAddress(ecdsaKey(9).publicKey) })).answer).toMatchObject({ action: 'REJECT' });
    expect((await ask({ ...ethRequest('e6'), rawTx: [{ ...ethRequest('e6').rawTx[0]!, rawTx: `${ethRequest('e6').rawTx[0]!.rawTx}00` }] })).answer).toMatchObject({ action: 'REJECT' });
    const btc = segwitRequest('w2');
    btc.rawTx[0] = { ...btc.rawTx[0]!, payload: 'cd'.repeat(32) };
    expect((await ask(btc)).answer).toMatchObject({ action: 'REJECT' });
  });
});
