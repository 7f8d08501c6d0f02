import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { startPublicDocsHandler, type PublicDocsHandler } from './public-docs-handler.ts';
import { buildTaprootSpend, taprootAddress } from '../../local/chains/bitcoin.ts';
import { buildSolanaTransfer, solanaAddress } from '../../local/chains/solana.ts';
import { BLOCKHASH, ed25519Key, taprootKey, TXID_A } from '../local/chains/keys.ts';

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
