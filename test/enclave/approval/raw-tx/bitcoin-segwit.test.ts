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

describe('SegWit v0 golden sighash (BIP-143 "Native P2WPKH" example)', () => {
  // bitcoin/bips bip-0143.mediawiki, Example, Native P2WPKH: the unsigned transaction, its inputs'
  // prevouts (P2PK, 6.25 BTC; P2WPKH of 025476c2…6357, 6 BTC), the published sigHash of input 1 with
  // SIGHASH_ALL and the published DER signature. A PSBT cannot carry a bare P2PK script as
  // witnessUtxo (btc-signer refuses it, and the enclave needs witnessUtxo on every input), so input 0
  // gets a P2WPKH one: BIP-143 commits to the other inputs' outpoints and sequences only, so input
  // 1's sighash is the published one all the same.
  const UNSIGNED = '0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000';
  const P2WPKH = '00141d0f172a0ecb48aee1be1f2687d2963ae33f71a1';
  const PUBKEY = '025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357';
  const SIGHASH = 'c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670';
  const SIGNATURE = '304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee';

  function psbt(): Uint8Array {
    const tx = Transaction.fromRaw(hex.decode(UNSIGNED));
    tx.updateInput(0, { witnessUtxo: { script: wpkh(stranger.publicKey), amount: 625_000_000n } });
    tx.updateInput(1, { witnessUtxo: { script: hex.decode(P2WPKH), amount: 600_000_000n } });
    return tx.toPSBT();
  }

  it('recomputes the published sighash and accepts it for the published key', () => {
    expect(hex.encode(segwitSighashes(Transaction.fromPSBT(psbt()))[1]!)).toBe(SIGHASH);
    expect(check(psbt(), hex.decode(SIGHASH), hex.decode(PUBKEY))).not.toThrow();
    expect(secp256k1.verify(hex.decode(SIGNATURE), hex.decode(SIGHASH), hex.decode(PUBKEY), { prehash: false, format: 'der' })).toBe(true);
    const other = hex.decode(SIGHASH);
    other[0] = other[0]! ^ 1;
    expect(check(psbt(), other, hex.decode(PUBKEY))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});
