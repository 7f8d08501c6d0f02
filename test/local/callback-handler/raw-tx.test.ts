import { describe, expect, it } from 'vitest';
import { hex } from '@scure/base';
import { OutScript, Transaction } from '@scure/btc-signer';
import { decideTx } from '../../../local/callback-handler/rules.ts';
import { toUnits } from '../../../local/callback-handler/raw-tx.ts';
import { buildTaprootSpend, taprootAddress, taprootSighashes } from '../../../local/chains/bitcoin.ts';
import { buildSolanaTransfer, solanaAddress } from '../../../local/chains/solana.ts';
import { BLOCKHASH, ed25519Key, taprootKey, TXID_A, TXID_B } from '../chains/keys.ts';

const btcKey = taprootKey(1);
const btcDest = taprootAddress(taprootKey(2).outputKey);
const solFrom = ed25519Key(3);
const solDest = solanaAddress(ed25519Key(4).publicKey);
const PATH = '[ 44, 1, 0, 0, 0 ]';

function btcRequest(amount = 40_000n) {
  const s = buildTaprootSpend({ outputKey: btcKey.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }, { txid: TXID_B, vout: 2, amount: 3_000n }], to: btcDest, amount, fee: 400n });
  return { txId: 't1', requestId: 't1', operation: 'TRANSFER', asset: 'BTC_TEST', amountStr: s.amountStr, destAddress: btcDest, rawTx: s.entries.map((e) => ({ keyDerivationPath: PATH, ...e })) };
}

function solRequest(lamports = 1_000_000n) {
  const { entry, amountStr } = buildSolanaTransfer({ from: solFrom.publicKey, to: solDest, lamports, recentBlockhash: BLOCKHASH });
  return { txId: 't2', requestId: 't2', operation: 'TRANSFER', asset: 'SOL_TEST', amountStr, destAddress: solDest, rawTx: [{ keyDerivationPath: PATH, ...entry }] };
}

const decide = (tx: Record<string, unknown>, rules = {}) => decideTx(rules, tx, 0);
const rejected = (why: RegExp) => expect.objectContaining({ action: 'REJECT', rejectionReason: expect.stringMatching(why) });

describe('sample handler: raw transactions', () => {
  it('approves honest Bitcoin and Solana transfers', () => {
    expect(decide(btcRequest())).toEqual({ action: 'APPROVE' });
    expect(decide(solRequest())).toEqual({ action: 'APPROVE' });
    // destinations[] (signing stage) are read in preference to destAddress
    const r = btcRequest();
    expect(decide({ ...r, destAddress: 'tb1pother', destinations: [{ displayDstAddress: btcDest, amountNativeStr: '0.0004' }] })).toEqual({ action: 'APPROVE' });
  });

  it('rejects a Bitcoin payload that is no input\'s sighash', () => {
    const r = btcRequest();
    r.rawTx[1] = { ...r.rawTx[1]!, payload: 'ab'.repeat(32) };
    expect(decide(r)).toEqual(rejected(/rawTx\[1\].*signature hash/));
  });

  it('rejects a Bitcoin transaction paying another amount or another address than described', () => {
    expect(decide({ ...btcRequest(), amountStr: '0.00040001' })).toEqual(rejected(/pays 40000 to .* says 40001/));
    expect(decide({ ...btcRequest(), destAddress: taprootAddress(taprootKey(9).outputKey) })).toEqual(rejected(/neither a destination nor change/));
    expect(decide({ ...btcRequest(), amountStr: '0.000400001' })).toEqual(rejected(/not a valid amount/));
  });

  it('rejects a Bitcoin transaction with an extra output', () => {
    const r = btcRequest();
    const tx = Transaction.fromPSBT(hex.decode(r.rawTx[0]!.rawTx));
    tx.addOutput({ script: OutScript.encode({ type: 'tr', pubkey: taprootKey(9).outputKey }), amount: 500n });
    const psbt = hex.encode(tx.toPSBT());
    // payloads recomputed honestly for the new PSBT: only the output check can catch it
    const rawTx = taprootSighashes(tx).map((h) => ({ keyDerivationPath: PATH, format: 'bitcoin-psbt', rawTx: psbt, payload: hex.encode(h) }));
    expect(decide({ ...r, rawTx })).toEqual(rejected(/output 2 pays a script that is neither a destination nor change/));
  });

  it('rejects a Solana payload that is not the message, a different amount or recipient, and garbage', () => {
    const r = solRequest();
    expect(decide({ ...r, rawTx: [{ ...r.rawTx[0]!, payload: solRequest(2n).rawTx[0]!.payload }] })).toEqual(rejected(/not the message/));
    expect(decide({ ...r, amountStr: '0.002' })).toEqual(rejected(/says 2000000/));
    expect(decide({ ...r, destAddress: solanaAddress(ed25519Key(8).publicKey) })).toEqual(rejected(/does not name/));
    expect(decide({ ...r, rawTx: [{ ...r.rawTx[0]!, rawTx: 'ffff' }] })).toEqual(rejected(/not a readable Solana/));
  });

  it('checks raw entries byte for byte and refuses formats it cannot read', () => {
    const base = { txId: 't3', requestId: 't3', operation: 'RAW' };
    expect(decide({ ...base, rawTx: [{ keyDerivationPath: PATH, format: 'raw', rawTx: 'abcd', payload: 'ABCD' }] })).toEqual({ action: 'APPROVE' });
    expect(decide({ ...base, rawTx: [{ keyDerivationPath: PATH, format: 'raw', rawTx: 'abcd', payload: 'abce' }] })).toEqual(rejected(/not the rawTx bytes/));
    expect(decide({ ...base, rawTx: [{ keyDerivationPath: PATH, format: 'zcash', rawTx: 'abcd', payload: 'abcd' }] })).toEqual(rejected(/not one this handler reads/));
    expect(decide({ ...base, rawTx: [{ keyDerivationPath: PATH, format: 'raw', rawTx: 'abcd', payload: 'zz' }] })).toEqual(rejected(/not hex/));
  });

  it('refuses entries without a format when told to (the standalone handler and the demo); the library default leaves them to the other rules', () => {
    const legacy = { txId: 't4', requestId: 't4', rawTx: [{ keyDerivationPath: PATH, rawTx: '', payload: 'ab'.repeat(32) }] };
    expect(decide(legacy)).toEqual({ action: 'APPROVE' });
    expect(decide(legacy, { requireRawTxFormat: true })).toEqual(rejected(/no format/));
    expect(decide(legacy, { requireRawTxFormat: false })).toEqual({ action: 'APPROVE' });
  });

  it('reads decimal amounts exactly', () => {
    expect(toUnits('0.00040000', 8)).toBe(40_000n);
    expect(toUnits('1', 9)).toBe(1_000_000_000n);
    expect(toUnits('0.1234567891', 9)).toBeUndefined();
    expect(toUnits('-1', 8)).toBeUndefined();
  });
});
