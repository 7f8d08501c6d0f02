import { describe, expect, it } from 'vitest';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { NETWORK, OutScript, SigHash, Transaction } from '@scure/btc-signer';
import { hash160 } from '@scure/btc-signer/utils.js';
import { buildSegwitSpend, buildTaprootSpend, finalizeSegwitSpend, finalizeTaprootSpend, satsToBtc, segwitAddress, taprootAddress } from '../../../local/chains/bitcoin.ts';
import { ecdsaKey, ecdsaSign, taprootKey, TXID_A, TXID_B } from './keys.ts';

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

describe('Bitcoin SegWit v0 (P2WPKH) spends', () => {
  const key = ecdsaKey(4);
  const to = segwitAddress(ecdsaKey(5).publicKey);
  const utxos = [{ txid: TXID_A, vout: 0, amount: 100_000n }, { txid: TXID_B, vout: 2, amount: 30_000n }];

  it('give the BIP-173 address of the generator key (mainnet) and tb1q on testnet', () => {
    // BIP-173 example: P2WPKH of 0279BE66…1798.
    const g = hex.decode('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798');
    expect(segwitAddress(g, NETWORK)).toBe('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4');
    expect(segwitAddress(key.publicKey)).toMatch(/^tb1q[02-9ac-hj-np-z]{38}$/);
  });

  it('pay the amount to the destination and the change back to the same P2WPKH script', () => {
    const s = buildSegwitSpend({ publicKey: key.publicKey, utxos, to, amount: 60_000n, feeRate: 2 });
    const tx = Transaction.fromPSBT(s.psbt);
    expect(tx.getOutput(0).amount).toBe(60_000n);
    expect(tx.getOutput(1).script).toEqual(OutScript.encode({ type: 'wpkh', hash: hash160(key.publicKey) }));
    expect(s.change + s.fee + 60_000n).toBe(130_000n);
    expect(s.from).toBe(segwitAddress(key.publicKey));
    expect(s.entries.map((e) => e.format)).toEqual(['bitcoin-psbt', 'bitcoin-psbt']);
  });

  it('finalize with DER signatures into a transaction whose witnesses verify over recomputed BIP-143 sighashes', () => {
    const s = buildSegwitSpend({ publicKey: key.publicKey, utxos, to, amount: 60_000n, feeRate: 2 });
    const sigs = s.entries.map((e) => ecdsaSign(hex.decode(e.payload), key.secret).signature);
    const { hex: signed, txid } = finalizeSegwitSpend(s.psbt, sigs, key.publicKey);
    const tx = Transaction.fromRaw(hex.decode(signed));
    expect(tx.id).toBe(txid);
    const psbt = Transaction.fromPSBT(s.psbt);
    const scriptCode = OutScript.encode({ type: 'pkh', hash: hash160(key.publicKey) });
    for (let i = 0; i < 2; i++) {
      const [derWithType, pub] = tx.getInput(i).finalScriptWitness!;
      expect(pub).toEqual(key.publicKey);
      expect(derWithType!.at(-1)).toBe(SigHash.ALL);
      const sighash = psbt.preimageWitnessV0(i, scriptCode, SigHash.ALL, utxos[i]!.amount);
      expect(secp256k1.verify(derWithType!.subarray(0, -1), sighash, key.publicKey, { prehash: false, format: 'der' })).toBe(true);
    }
    // The fee estimate assumed the largest DER signature: it covers the real size.
    expect(Math.ceil(tx.vsize) * 2).toBeLessThanOrEqual(Number(s.fee));
  });

  it('give the same witness btc-signer produces when it signs with the key itself', () => {
    const s = buildSegwitSpend({ publicKey: key.publicKey, utxos: utxos.slice(0, 1), to, amount: 60_000n, fee: 300n });
    const own = Transaction.fromPSBT(s.psbt);
    own.sign(key.secret, undefined, new Uint8Array(0));
    own.finalize();
    const ours = finalizeSegwitSpend(s.psbt, [ecdsaSign(hex.decode(s.entries[0]!.payload), key.secret).signature], key.publicKey);
    // Both RFC 6979 deterministic over the same sighash: byte-identical transactions.
    expect(ours.hex).toBe(own.hex);
  });

  it('refuse a bad signature, a high-S one, another key, and the wrong number of them', () => {
    const s = buildSegwitSpend({ publicKey: key.publicKey, utxos: utxos.slice(0, 1), to, amount: 50_000n, fee: 500n });
    const good = ecdsaSign(hex.decode(s.entries[0]!.payload), key.secret).signature;
    const bad = Uint8Array.from(good);
    bad[40] = bad[40]! ^ 1;
    expect(() => finalizeSegwitSpend(s.psbt, [bad], key.publicKey)).toThrow(/does not verify/);
    const sig = secp256k1.Signature.fromBytes(good, 'compact');
    const high = new secp256k1.Signature(sig.r, secp256k1.Point.CURVE().n - sig.s).toBytes('compact');
    expect(() => finalizeSegwitSpend(s.psbt, [high], key.publicKey)).toThrow(/does not verify/);
    expect(() => finalizeSegwitSpend(s.psbt, [good], ecdsaKey(6).publicKey)).toThrow(/not spent by this key/);
    expect(() => finalizeSegwitSpend(s.psbt, [good, good], key.publicKey)).toThrow(/signature/);
  });
});
