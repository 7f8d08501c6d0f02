import { describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { NETWORK, OutScript, Transaction } from '@scure/btc-signer';
import { buildTaprootSpend, finalizeTaprootSpend, satsToBtc, taprootAddress } from '../../../local/chains/bitcoin.ts';
import { taprootKey, TXID_A, TXID_B } from './keys.ts';

const ours = taprootKey(1);
const dest = taprootAddress(taprootKey(2).outputKey);

describe('Bitcoin Taproot spends', () => {
  it('give the BIP-86 address of the published test vector (mainnet) and tb1p on testnet', () => {
    // BIP-86, first receiving address of the "abandon … about" wallet: output key and address.
    const outputKey = hex.decode('a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c');
    expect(taprootAddress(outputKey, NETWORK)).toBe('bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr');
    expect(taprootAddress(outputKey)).toMatch(/^tb1p/);
  });

  it('pay the amount to the destination and the change back to the same address', () => {
    const s = buildTaprootSpend({ outputKey: ours.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }, { txid: TXID_B, vout: 3, amount: 20_000n }], to: dest, amount: 70_000n, feeRate: 3 });
    const tx = Transaction.fromPSBT(s.psbt);
    const outs = [0, 1].map((i) => tx.getOutput(i));
    expect(outs[0]!.amount).toBe(70_000n);
    expect(outs[1]!.amount).toBe(s.change);
    expect(outs[1]!.script).toEqual(OutScript.encode({ type: 'tr', pubkey: ours.outputKey }));
    expect(s.change + s.fee + 70_000n).toBe(120_000n);
    expect(s.amountStr).toBe('0.00070000');
    expect(s.entries).toHaveLength(2);
  });

  it('send dust change to the fee instead of an output', () => {
    const s = buildTaprootSpend({ outputKey: ours.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 10_200n }], to: dest, amount: 10_000n, fee: 100n });
    expect(s.change).toBe(0n);
    expect(s.fee).toBe(200n);
    expect(Transaction.fromPSBT(s.psbt).outputsLength).toBe(1);
  });

  it('refuse spends the UTXOs cannot pay for', () => {
    expect(() => buildTaprootSpend({ outputKey: ours.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 1_000n }], to: dest, amount: 900n, fee: 200n })).toThrow(/cover/);
  });

  it('finalize with verified signatures into a transaction btc-signer reads back', () => {
    const s = buildTaprootSpend({ outputKey: ours.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }, { txid: TXID_B, vout: 1, amount: 5_000n }], to: dest, amount: 50_000n, feeRate: 1 });
    const sigs = s.entries.map((e) => schnorr.sign(hex.decode(e.payload), ours.outputSecret));
    const { hex: signed, txid } = finalizeTaprootSpend(s.psbt, sigs);
    const tx = Transaction.fromRaw(hex.decode(signed));
    expect(tx.id).toBe(txid);
    expect(tx.inputsLength).toBe(2);
    // Each witness is exactly the 64-byte key-path signature (SIGHASH_DEFAULT adds no byte).
    for (let i = 0; i < 2; i++) expect(tx.getInput(i).finalScriptWitness).toEqual([sigs[i]]);
    expect(Math.ceil(tx.vsize)).toBeLessThanOrEqual(Number(s.fee));
  });

  it('refuse a signature that does not verify, or the wrong number of them', () => {
    const s = buildTaprootSpend({ outputKey: ours.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }], to: dest, amount: 50_000n, fee: 500n });
    const good = schnorr.sign(hex.decode(s.entries[0]!.payload), ours.outputSecret);
    const bad = Uint8Array.from(good);
    bad[10] = bad[10]! ^ 1;
    expect(() => finalizeTaprootSpend(s.psbt, [bad])).toThrow(/does not verify/);
    expect(() => finalizeTaprootSpend(s.psbt, [schnorr.sign(hex.decode(s.entries[0]!.payload), ours.internalSecret)])).toThrow(/does not verify/);
    expect(() => finalizeTaprootSpend(s.psbt, [good, good])).toThrow(/signature/);
  });

  it('format satoshis as BTC', () => {
    expect(satsToBtc(1n)).toBe('0.00000001');
    expect(satsToBtc(123_456_789n)).toBe('1.23456789');
  });
});
