// `bitcoin-psbt` entries for threshold ECDSA keys: the payload must be the BIP-143 (SegWit v0,
// SIGHASH_ALL) sighash of a P2WPKH input of hash160(derived compressed key). The same tampering the
// Taproot path refuses is refused here.
import { describe, expect, it } from 'vitest';
import { hex } from '@scure/base';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { OutScript, SigHash, Transaction } from '@scure/btc-signer';
import { hash160 } from '@scure/btc-signer/utils.js';
import { checkRawTx } from '../../../../enclave/approval/raw-tx/check.ts';
import type { ThresholdScheme } from '../../../../enclave/vault/records.ts';
import { buildSegwitSpend, segwitAddress, segwitSighashes } from '../../../../local/chains/bitcoin.ts';
import { ecdsaKey, taprootKey, TXID_A, TXID_B } from '../../../local/chains/keys.ts';

const ours = ecdsaKey(1);
const dest = ecdsaKey(2);
const stranger = ecdsaKey(3);
const wpkh = (publicKey: Uint8Array): Uint8Array => OutScript.encode({ type: 'wpkh', hash: hash160(publicKey) });
const check = (rawTx: Uint8Array, payload: Uint8Array, key = ours.publicKey, scheme: ThresholdScheme = 'dkls23-secp256k1') =>
  () => checkRawTx({ format: 'bitcoin-psbt', rawTx, payload, scheme, signingPublicKey: key });
const code = (c: string) => expect.objectContaining({ code: c });

function spend(amount = 40_000n) {
  return buildSegwitSpend({ publicKey: ours.publicKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }, { txid: TXID_B, vout: 1, amount: 50_000n }], to: segwitAddress(dest.publicKey), amount, fee: 500n });
}

/** Input 0 ours, input 1 a stranger's P2WPKH output (a joint spend). */
function jointPsbt(): Transaction {
  const tx = new Transaction();
  tx.addInput({ txid: TXID_A, index: 0, witnessUtxo: { script: wpkh(ours.publicKey), amount: 10_000n } });
  tx.addInput({ txid: TXID_B, index: 0, witnessUtxo: { script: wpkh(stranger.publicKey), amount: 10_000n } });
  tx.addOutput({ script: wpkh(dest.publicKey), amount: 19_000n });
  return tx;
}

describe('bitcoin-psbt entries for ECDSA keys (SegWit v0)', () => {
  it('accept the BIP-143 sighash of every P2WPKH input the key spends', () => {
    const s = spend();
    expect(s.entries).toHaveLength(2);
    for (const e of s.entries) expect(check(hex.decode(e.rawTx), hex.decode(e.payload))).not.toThrow();
  });

  it('sign what btc-signer itself signs for a P2WPKH key (independent check of the sighash)', () => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    tx.signIdx(ours.secret, 0);
    const [[pub, derWithType]] = tx.getInput(0).partialSig as [Uint8Array, Uint8Array][] as [[Uint8Array, Uint8Array]];
    expect(pub).toEqual(ours.publicKey);
    expect(derWithType.at(-1)).toBe(SigHash.ALL);
    // btc-signer's own signature of input 0 verifies over our payload: the same BIP-143 digest.
    const der = derWithType.subarray(0, -1);
    expect(secp256k1.verify(der, hex.decode(s.entries[0]!.payload), ours.publicKey, { prehash: false, format: 'der' })).toBe(true);
    expect(secp256k1.verify(der, hex.decode(s.entries[1]!.payload), ours.publicKey, { prehash: false, format: 'der' })).toBe(false);
  });

  it('refuse the sighash of an input the key does not spend', () => {
    const tx = jointPsbt();
    const mine = tx.preimageWitnessV0(0, OutScript.encode({ type: 'pkh', hash: hash160(ours.publicKey) }), SigHash.ALL, 10_000n);
    const theirs = tx.preimageWitnessV0(1, OutScript.encode({ type: 'pkh', hash: hash160(stranger.publicKey) }), SigHash.ALL, 10_000n);
    expect(check(tx.toPSBT(), mine)).not.toThrow();
    expect(check(tx.toPSBT(), theirs)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
    expect(check(tx.toPSBT(), theirs, stranger.publicKey)).not.toThrow();
  });

  it('refuse a key that no input spends', () => {
    const e = spend().entries[0]!;
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), stranger.publicKey)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a PSBT whose output changed after the sighash was taken', () => {
    const payload = hex.decode(spend(40_000n).entries[0]!.payload);
    expect(check(spend(41_000n).psbt, payload)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a PSBT whose witnessUtxo amount differs from the one hashed', () => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    const w = tx.getInput(0).witnessUtxo!;
    tx.updateInput(0, { witnessUtxo: { script: w.script, amount: w.amount - 1n } });
    expect(check(tx.toPSBT(), hex.decode(s.entries[0]!.payload))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it.each([['DEFAULT', SigHash.DEFAULT], ['NONE', SigHash.NONE], ['SINGLE', SigHash.SINGLE], ['ALL_ANYONECANPAY', SigHash.ALL_ANYONECANPAY]])('refuse a PSBT requesting sighash %s', (_n, type) => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    tx.updateInput(1, { sighashType: type });
    expect(check(tx.toPSBT(), hex.decode(s.entries[0]!.payload))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('accept a PSBT that states SIGHASH_ALL explicitly', () => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    tx.updateInput(0, { sighashType: SigHash.ALL });
    expect(check(tx.toPSBT(), hex.decode(s.entries[0]!.payload))).not.toThrow();
  });

  it('refuse an input without witnessUtxo', () => {
    const tx = jointPsbt();
    const payload = segwitSighashes(tx)[0]!;
    const bare = new Transaction();
    bare.addInput({ txid: TXID_A, index: 0, witnessUtxo: tx.getInput(0).witnessUtxo! });
    bare.addInput({ txid: TXID_B, index: 0 });
    bare.addOutput(tx.getOutput(0) as { script: Uint8Array; amount: bigint });
    expect(check(bare.toPSBT(), payload)).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse an already finalized input', () => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    tx.signIdx(ours.secret, 1);
    tx.finalizeIdx(1);
    expect(check(tx.toPSBT(), hex.decode(s.entries[0]!.payload))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse an uncompressed key and a Taproot (x-only) key for an ECDSA entry', () => {
    const e = spend().entries[0]!;
    const uncompressed = secp256k1.getPublicKey(ours.secret, false);
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), uncompressed)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), ours.publicKey.subarray(1))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a SegWit v0 sighash for a FROST Taproot key, and a P2TR input for an ECDSA key', () => {
    const e = spend().entries[0]!;
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), ours.publicKey.subarray(1), 'frost-secp256k1-tr')).toThrow(code('ERR_PAYLOAD_MISMATCH'));
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), ours.publicKey, 'frost-ed25519')).toThrow(code('ERR_PAYLOAD_MISMATCH'));
    // A Taproot input of the same secret's output key: not what an ECDSA key signs.
    const tr = taprootKey(1);
    const tx = new Transaction();
    tx.addInput({ txid: TXID_A, index: 0, witnessUtxo: { script: OutScript.encode({ type: 'tr', pubkey: tr.outputKey }), amount: 10_000n } });
    tx.addOutput({ script: wpkh(dest.publicKey), amount: 9_000n });
    expect(check(tx.toPSBT(), new Uint8Array(32))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});

describe('raw entries for ECDSA keys', () => {
  const raw = (rawTx: Uint8Array, payload: Uint8Array) => () => checkRawTx({ format: 'raw', rawTx, payload, scheme: 'dkls23-secp256k1', signingPublicKey: ours.publicKey });
  it('sign exactly a 32-byte digest', () => {
    const digest = new Uint8Array(32).fill(9);
    expect(raw(digest, digest)).not.toThrow();
  });

  it.each([[31], [33], [64], [0]])('refuse a %i-byte message', (n) => {
    const m = new Uint8Array(n).fill(9);
    expect(raw(m, m)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a payload that differs from rawTx', () => {
    expect(raw(new Uint8Array(32).fill(9), new Uint8Array(32).fill(8))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});
