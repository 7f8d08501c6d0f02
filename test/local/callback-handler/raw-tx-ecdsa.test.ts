// The sample handler on threshold ECDSA transactions: Ethereum EIP-1559 transfers (signing hash
// recomputed from rawTx, recipient and value checked) and SegWit v0 PSBTs (checked like Taproot ones).
import { describe, expect, it } from 'vitest';
import { hex } from '@scure/base';
import { OutScript, SigHash, Transaction } from '@scure/btc-signer';
import { hash160 } from '@scure/btc-signer/utils.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { serializeTransaction, type Hex } from 'viem';
import { decideTx } from '../../../local/callback-handler/rules.ts';
import { buildSegwitSpend, segwitAddress, segwitSighashes } from '../../../local/chains/bitcoin.ts';
import { buildEthereumTransfer, ethereumAddress } from '../../../local/chains/ethereum.ts';
import { ecdsaKey, TXID_A, TXID_B } from '../chains/keys.ts';

const PATH = '[ 44, 60, 0, 0, 0 ]';
const ethTo = ethereumAddress(ecdsaKey(2).publicKey);
const btcKey = ecdsaKey(3);
const btcTo = segwitAddress(ecdsaKey(4).publicKey);

function ethRequest(value = 10n ** 15n) {
  const t = buildEthereumTransfer({ nonce: 4n, to: ethTo, value });
  return { txId: 'e1', requestId: 'e1', operation: 'TRANSFER', asset: 'ETH_TEST', amountStr: t.amountStr, destAddress: ethTo, rawTx: [{ keyDerivationPath: PATH, ...t.entry }] };
}

function btcRequest(amount = 40_000n) {
  const s = buildSegwitSpend({ publicKey: btcKey.publicKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }, { txid: TXID_B, vout: 2, amount: 3_000n }], to: btcTo, amount, fee: 400n });
  return { txId: 'b1', requestId: 'b1', operation: 'TRANSFER', asset: 'BTC_TEST_SEGWIT', amountStr: s.amountStr, destAddress: btcTo, rawTx: s.entries.map((e) => ({ keyDerivationPath: '[ 44, 1, 0, 0, 0 ]', ...e })) };
}

const decide = (tx: Record<string, unknown>) => decideTx({ requireRawTxFormat: true }, tx, 0);
const rejected = (why: RegExp) => expect.objectContaining({ action: 'REJECT', rejectionReason: expect.stringMatching(why) });
/** An ethereum entry for viem-serialised bytes, with its honest signing hash. */
const entryOf = (serialized: Hex) => ({ keyDerivationPath: PATH, format: 'ethereum', rawTx: serialized.slice(2), payload: hex.encode(keccak_256(hex.decode(serialized.slice(2)))) });

describe('sample handler: Ethereum transfers', () => {
  it('approves an honest transfer, with the destination named in lower case or in destinations[]', () => {
    expect(decide(ethRequest())).toEqual({ action: 'APPROVE' });
    expect(decide({ ...ethRequest(), destAddress: ethTo.toLowerCase() })).toEqual({ action: 'APPROVE' });
    expect(decide({ ...ethRequest(), destAddress: '', destinations: [{ displayDstAddress: ethTo, amountNativeStr: '0.001' }] })).toEqual({ action: 'APPROVE' });
  });

  it('rejects a payload that is not the signing hash of rawTx', () => {
    const r = ethRequest();
    r.rawTx[0] = { ...r.rawTx[0]!, payload: ethRequest(1n).rawTx[0]!.payload };
    expect(decide(r)).toEqual(rejected(/signing hash/));
  });

  it('rejects another value or another recipient than described', () => {
    expect(decide({ ...ethRequest(), amountStr: '0.0011' })).toEqual(rejected(/says 1100000000000000/));
    expect(decide({ ...ethRequest(), destAddress: ethereumAddress(ecdsaKey(9).publicKey) })).toEqual(rejected(/does not name/));
    expect(decide({ ...ethRequest(), destAddress: '0x1234' })).toEqual(rejected(/not an Ethereum address/));
  });

  it('rejects call data, a contract creation, a signed, a legacy or an unreadable transaction', () => {
    const base = { chainId: 11155111, nonce: 1, value: 10n ** 15n, gas: 60_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, type: 'eip1559' } as const;
    const r = ethRequest();
    expect(decide({ ...r, rawTx: [entryOf(serializeTransaction({ ...base, to: ethTo as Hex, data: '0xa9059cbb' }))] })).toEqual(rejected(/call data/));
    expect(decide({ ...r, rawTx: [entryOf(serializeTransaction({ ...base, data: '0x6000' }))] })).toEqual(rejected(/call data|creates a contract/));
    const signed = serializeTransaction({ ...base, to: ethTo as Hex }, { r: `0x${'11'.repeat(32)}`, s: `0x${'22'.repeat(32)}`, yParity: 0 });
    expect(decide({ ...r, rawTx: [entryOf(signed)] })).toEqual(rejected(/not an unsigned EIP-1559/));
    const legacy = serializeTransaction({ chainId: 11155111, nonce: 1, to: ethTo as Hex, value: 10n ** 15n, gas: 21_000n, gasPrice: 2n, type: 'legacy' });
    expect(decide({ ...r, rawTx: [entryOf(legacy)] })).toEqual(rejected(/not an unsigned EIP-1559/));
    expect(decide({ ...r, rawTx: [{ ...r.rawTx[0]!, rawTx: '02c0' }] })).toEqual(rejected(/not a readable Ethereum/));
    expect(decide({ ...r, rawTx: [{ ...r.rawTx[0]!, rawTx: `${r.rawTx[0]!.rawTx}00` }] })).toEqual(rejected(/readable|canonical/));
  });
});

describe('sample handler: SegWit v0 PSBTs', () => {
  it('approves an honest P2WPKH spend', () => {
    expect(decide(btcRequest())).toEqual({ action: 'APPROVE' });
  });

  it('rejects a payload that is no input\'s BIP-143 sighash, another amount, an extra output', () => {
    const r = btcRequest();
    r.rawTx[0] = { ...r.rawTx[0]!, payload: btcRequest(41_000n).rawTx[0]!.payload };
    expect(decide(r)).toEqual(rejected(/rawTx\[0\].*signature hash/));
    expect(decide({ ...btcRequest(), amountStr: '0.00040001' })).toEqual(rejected(/pays 40000 to .* says 40001/));
    const tx = Transaction.fromPSBT(hex.decode(btcRequest().rawTx[0]!.rawTx));
    tx.addOutput({ script: OutScript.encode({ type: 'wpkh', hash: hash160(ecdsaKey(9).publicKey) }), amount: 500n });
    const psbt = hex.encode(tx.toPSBT());
    const rawTx = segwitSighashes(tx).map((h) => ({ keyDerivationPath: PATH, format: 'bitcoin-psbt', rawTx: psbt, payload: hex.encode(h) }));
    expect(decide({ ...btcRequest(), rawTx })).toEqual(rejected(/output 2 pays a script that is neither a destination nor change/));
  });

  it('rejects a PSBT whose input asks for a sighash type other than ALL', () => {
    const r = btcRequest();
    const tx = Transaction.fromPSBT(hex.decode(r.rawTx[0]!.rawTx));
    tx.updateInput(0, { sighashType: SigHash.NONE });
    const psbt = hex.encode(tx.toPSBT());
    expect(decide({ ...r, rawTx: [{ ...r.rawTx[0]!, rawTx: psbt }] })).toEqual(rejected(/signature hash/));
  });
});
