import { describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { OutScript, SigHash, Transaction } from '@scure/btc-signer';
import { checkRawTx } from '../../../../enclave/approval/raw-tx/check.ts';
import { MAX_PSBT_BYTES } from '../../../../enclave/approval/raw-tx/bitcoin-psbt.ts';
import { buildTaprootSpend, taprootAddress, taprootSighashes } from '../../../../local/chains/bitcoin.ts';
import { taprootKey, TXID_A, TXID_B } from '../../../local/chains/keys.ts';

const ours = taprootKey(1);
const dest = taprootKey(2);
const stranger = taprootKey(3);
const check = (rawTx: Uint8Array, payload: Uint8Array, key = ours.outputKey, scheme: 'frost-secp256k1-tr' | 'frost-ed25519' = 'frost-secp256k1-tr') =>
  () => checkRawTx({ format: 'bitcoin-psbt', rawTx, payload, scheme, signingPublicKey: key });
const code = (c: string) => expect.objectContaining({ code: c });

function spend(amount = 40_000n) {
  return buildTaprootSpend({ outputKey: ours.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }, { txid: TXID_B, vout: 1, amount: 50_000n }], to: taprootAddress(dest.outputKey), amount, fee: 500n });
}

/** A PSBT with input 0 ours and input 1 a stranger's P2TR output (a joint spend). */
function jointPsbt(): Transaction {
  const tx = new Transaction();
  tx.addInput({ txid: TXID_A, index: 0, witnessUtxo: { script: OutScript.encode({ type: 'tr', pubkey: ours.outputKey }), amount: 10_000n } });
  tx.addInput({ txid: TXID_B, index: 0, witnessUtxo: { script: OutScript.encode({ type: 'tr', pubkey: stranger.outputKey }), amount: 10_000n } });
  tx.addOutput({ script: OutScript.encode({ type: 'tr', pubkey: dest.outputKey }), amount: 19_000n });
  return tx;
}

describe('bitcoin-psbt entries', () => {
  it('accept the key-path sighash of every input the key spends', () => {
    const s = spend();
    expect(s.entries).toHaveLength(2);
    for (const e of s.entries) expect(check(hex.decode(e.rawTx), hex.decode(e.payload))).not.toThrow();
  });

  it('sign what btc-signer itself signs for a BIP-86 key (independent check of the sighash)', () => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    // btc-signer signs key-path only when told the internal key; the sighash does not commit to it.
    tx.updateInput(0, { tapInternalKey: schnorr.getPublicKey(ours.internalSecret) });
    tx.signIdx(ours.internalSecret, 0);
    const sig = tx.getInput(0).tapKeySig as Uint8Array;
    expect(schnorr.verify(sig, hex.decode(s.entries[0]!.payload), ours.outputKey)).toBe(true);
  });

  it('refuse the payload of an input the key does not spend', () => {
    const tx = jointPsbt();
    const [mine, theirs] = taprootSighashes(tx);
    expect(check(tx.toPSBT(), mine!)).not.toThrow();
    expect(check(tx.toPSBT(), theirs!)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a key that no input spends', () => {
    const e = spend().entries[0]!;
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), stranger.outputKey)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a PSBT whose output changed after the sighash was taken', () => {
    const payload = hex.decode(spend(40_000n).entries[0]!.payload);
    expect(check(spend(41_000n).psbt, payload)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a PSBT whose witnessUtxo amount differs from the one hashed', () => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    const w = tx.getInput(1).witnessUtxo!;
    tx.updateInput(1, { witnessUtxo: { script: w.script, amount: w.amount + 1n } });
    expect(check(tx.toPSBT(), hex.decode(s.entries[0]!.payload))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it.each([['ALL', SigHash.ALL], ['NONE', SigHash.NONE], ['SINGLE_ANYONECANPAY', SigHash.SINGLE_ANYONECANPAY]])('refuse a PSBT requesting sighash %s', (_n, type) => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    tx.updateInput(1, { sighashType: type });
    expect(check(tx.toPSBT(), hex.decode(s.entries[0]!.payload))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse an input without witnessUtxo', () => {
    const tx = jointPsbt();
    const payload = taprootSighashes(tx)[0]!;
    const bare = new Transaction();
    bare.addInput({ txid: TXID_A, index: 0, witnessUtxo: tx.getInput(0).witnessUtxo! });
    bare.addInput({ txid: TXID_B, index: 0 });
    bare.addOutput(tx.getOutput(0) as { script: Uint8Array; amount: bigint });
    expect(check(bare.toPSBT(), payload)).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse outputs worth more than the inputs', () => {
    const tx = jointPsbt();
    tx.addOutput({ script: OutScript.encode({ type: 'tr', pubkey: dest.outputKey }), amount: 5_000n });
    expect(check(tx.toPSBT(), taprootSighashes(tx)[0]!)).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse an already finalized input', () => {
    const s = spend();
    const tx = Transaction.fromPSBT(s.psbt);
    tx.updateInput(1, { tapInternalKey: schnorr.getPublicKey(ours.internalSecret) });
    tx.signIdx(ours.internalSecret, 1);
    tx.finalizeIdx(1);
    expect(check(tx.toPSBT(), hex.decode(s.entries[0]!.payload))).toThrow(code('ERR_TX_FORMAT'));
  });

  it.each([
    ['garbage', Uint8Array.from([1, 2, 3, 4])],
    ['an empty PSBT', new Uint8Array()],
    ['a truncated PSBT', spend().psbt.subarray(0, 60)],
    ['an oversized PSBT', new Uint8Array(MAX_PSBT_BYTES + 1)],
    ['a raw transaction instead of a PSBT', hex.decode(jointPsbt().hex)],
  ])('refuse %s', (_n, bytes) => {
    expect(check(bytes, new Uint8Array(32))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse a PSBT with more inputs than a request can carry', () => {
    const tx = new Transaction();
    const script = OutScript.encode({ type: 'tr', pubkey: ours.outputKey });
    for (let i = 0; i < 65; i++) tx.addInput({ txid: TXID_A, index: i, witnessUtxo: { script, amount: 1_000n } });
    tx.addOutput({ script, amount: 1_000n });
    expect(check(tx.toPSBT(), new Uint8Array(32))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse an Ed25519 key', () => {
    const e = spend().entries[0]!;
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), ours.outputKey, 'frost-ed25519')).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});

describe('bitcoin-psbt golden fixture', () => {
  // Fixed keys (secret 0x01…01, BIP-86 tweak), one fixed UTXO, fee 308 sats: if the library or our
  // code changes the PSBT or its sighash, this fails instead of silently signing something else.
  const GOLDEN_PSBT = '70736274ff0100890200000001aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000000000ffffffff02409c000000000000225120a674c2b152a383126b1e2a3a0683eb07a4d6568983a73dfb26dec2a7a9fb06432ce90000000000002251208c5db7f797196d6edc4dd7df6048f4ea6b883a6af6af032342088f436543790f000000000001012ba0860100000000002251208c5db7f797196d6edc4dd7df6048f4ea6b883a6af6af032342088f436543790f000000';
  const GOLDEN_SIGHASH = '7005687a8b49ad07ed1195b790f2ae278aa495344673e62788d6cecf5d984835';

  it('builds the same PSBT and sighash', () => {
    const s = buildTaprootSpend({ outputKey: ours.outputKey, utxos: [{ txid: TXID_A, vout: 0, amount: 100_000n }], to: taprootAddress(dest.outputKey), amount: 40_000n, feeRate: 2 });
    expect(s.fee).toBe(308n);
    expect(hex.encode(s.psbt)).toBe(GOLDEN_PSBT);
    expect(s.entries).toEqual([{ format: 'bitcoin-psbt', rawTx: GOLDEN_PSBT, payload: GOLDEN_SIGHASH }]);
  });

  it('checks the pinned PSBT against the pinned sighash', () => {
    expect(check(hex.decode(GOLDEN_PSBT), hex.decode(GOLDEN_SIGHASH))).not.toThrow();
    const other = hex.decode(GOLDEN_SIGHASH);
    other[31] = other[31]! ^ 1;
    expect(check(hex.decode(GOLDEN_PSBT), other)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});
