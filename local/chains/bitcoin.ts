// Reference coordinator (local mode and tests; never imported by enclave/). Builds real Bitcoin
// spends for a threshold key and finalizes them with the co-signers' signatures: Taproot key-path
// spends of a FROST key's output key (BIP-341/340), and SegWit v0 P2WPKH spends of a threshold
// ECDSA key (BIP-143, DER signatures). @scure/btc-signer builds, hashes and serialises; nothing here
// is hand-written.
import { Address, OutScript, SigHash, TEST_NETWORK, Transaction } from '@scure/btc-signer';
import { hash160, type BTC_NETWORK } from '@scure/btc-signer/utils.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';

/** Testnet / signet (`tb1p…`) unless told otherwise. */
export const BITCOIN_TESTNET: BTC_NETWORK = TEST_NETWORK;
/** Smallest P2TR output the network relays. */
const DUST_SATS = 330n;
const SIG_PLACEHOLDER = new Uint8Array(64);
/** Largest DER ECDSA signature plus its sighash byte: the witness size a fee estimate must assume. */
const DER_PLACEHOLDER = Uint8Array.from([0x30, 0x45, 0x02, 0x21, ...new Uint8Array(33).fill(1), 0x02, 0x20, ...new Uint8Array(32).fill(1), SigHash.ALL]);

/** The P2TR address (`tb1p…` on testnet) of a 32-byte x-only Taproot output key. */
export function taprootAddress(outputKey: Uint8Array, network: BTC_NETWORK = BITCOIN_TESTNET): string {
  return Address(network).encode({ type: 'tr', pubkey: outputKey });
}

export interface Utxo {
  /** Display-order hex txid, as explorers show it. */
  readonly txid: string;
  readonly vout: number;
  /** Satoshis. */
  readonly amount: bigint;
}

/** The P2WPKH address (`tb1q…` on testnet) of a 33-byte compressed ECDSA public key. */
export function segwitAddress(publicKey: Uint8Array, network: BTC_NETWORK = BITCOIN_TESTNET): string {
  return Address(network).encode({ type: 'wpkh', hash: hash160(publicKey) });
}

export interface TaprootSpendRequest {
  readonly outputKey: Uint8Array;
  readonly utxos: readonly Utxo[];
  readonly to: string;
  /** Satoshis to `to`. */
  readonly amount: bigint;
  /** Exact fee in satoshis, or a rate in sat/vB (vsize measured with placeholder signatures). */
  readonly fee?: bigint;
  readonly feeRate?: number;
  readonly network?: BTC_NETWORK;
}

/** One rawTx entry as the coordinator sends it (hex), before a key derivation path is attached. */
export interface BitcoinRawTxEntry {
  readonly format: 'bitcoin-psbt';
  readonly rawTx: string;
  readonly payload: string;
}

export interface TaprootSpend {
  readonly psbt: Uint8Array;
  /** One entry per input, in input order: the PSBT and that input's BIP-341 sighash. */
  readonly entries: BitcoinRawTxEntry[];
  readonly from: string;
  readonly destinations: { address: string; amount: bigint }[];
  readonly change: bigint;
  readonly fee: bigint;
  /** `amount` in BTC as a decimal string (the handler's `amountStr`). */
  readonly amountStr: string;
}

/** Satoshis as a BTC decimal string ("0.00012000"). */
export function satsToBtc(sats: bigint): string {
  const s = sats.toString().padStart(9, '0');
  return `${s.slice(0, -8)}.${s.slice(-8)}`;
}

/** The spent script: P2TR of the output key, or P2WPKH of a compressed key's hash. */
function spentScript(req: SpendRequest): Uint8Array {
  return req.kind === 'wpkh' ? OutScript.encode({ type: 'wpkh', hash: hash160(req.outputKey) }) : OutScript.encode({ type: 'tr', pubkey: req.outputKey });
}

type SpendRequest = TaprootSpendRequest & { readonly kind: 'tr' | 'wpkh' };

function unsignedSpend(req: SpendRequest, from: string, change: bigint): Transaction {
  const network = req.network ?? BITCOIN_TESTNET;
  const script = spentScript(req);
  const tx = new Transaction();
  for (const u of req.utxos) tx.addInput({ txid: u.txid, index: u.vout, witnessUtxo: { script, amount: u.amount } });
  tx.addOutputAddress(req.to, req.amount, network);
  if (change > 0n) tx.addOutputAddress(from, change, network);
  return tx;
}

/** The BIP-341 key-path sighash (SIGHASH_DEFAULT) of every input of `tx`, computed by btc-signer. */
export function taprootSighashes(tx: Transaction): Uint8Array[] {
  const scripts: Uint8Array[] = [];
  const amounts: bigint[] = [];
  for (let i = 0; i < tx.inputsLength; i++) {
    const w = tx.getInput(i).witnessUtxo;
    if (!w) throw new Error(`input ${i} has no witnessUtxo`);
    scripts.push(w.script);
    amounts.push(w.amount);
  }
  return scripts.map((_, i) => tx.preimageWitnessV1(i, scripts, SigHash.DEFAULT, amounts));
}

function vsizeOf(tx: Transaction, req: SpendRequest): number {
  const t = tx.clone();
  for (let i = 0; i < t.inputsLength; i++) {
    t.updateInput(i, req.kind === 'wpkh' ? { partialSig: [[req.outputKey, DER_PLACEHOLDER]] } : { tapKeySig: SIG_PLACEHOLDER });
  }
  t.finalize();
  return t.vsize;
}

/** An unsigned PSBT spending `utxos` of `outputKey` to `to`, change back to the same address. */
export function buildTaprootSpend(req: TaprootSpendRequest): TaprootSpend {
  return buildSpend({ ...req, kind: 'tr' }, taprootAddress(req.outputKey, req.network), taprootSighashes);
}

function buildSpend(req: SpendRequest, from: string, sighashes: (tx: Transaction) => Uint8Array[]): TaprootSpend {
  if (req.utxos.length === 0) throw new Error('no UTXOs to spend');
  if (req.amount < DUST_SATS) throw new Error('amount is below the dust limit');
  const total = req.utxos.reduce((s, u) => s + u.amount, 0n);
  let fee: bigint;
  if (req.fee !== undefined) fee = req.fee;
  else if (req.feeRate !== undefined) fee = BigInt(Math.ceil(vsizeOf(unsignedSpend(req, from, 1n), req) * req.feeRate));
  else throw new Error('give fee or feeRate');
  let change = total - req.amount - fee;
  if (change < 0n) throw new Error('the UTXOs do not cover amount and fee');
  if (change < DUST_SATS) {
    fee += change; // dust change goes to the miner rather than making an unrelayable output
    change = 0n;
  }
  const tx = unsignedSpend(req, from, change);
  const psbt = tx.toPSBT();
  const rawTx = hex.encode(psbt);
  return {
    psbt,
    entries: sighashes(tx).map((h) => ({ format: 'bitcoin-psbt' as const, rawTx, payload: hex.encode(h) })),
    from,
    destinations: [{ address: req.to, amount: req.amount }],
    change,
    fee,
    amountStr: satsToBtc(req.amount),
  };
}

/**
 * The signed transaction from the PSBT and one BIP-340 signature per input (input order). Each
 * signature is verified with `schnorr.verify` against that input's output key and sighash before
 * btc-signer finalizes; a bad one throws.
 */
export function finalizeTaprootSpend(psbt: Uint8Array, signatures: readonly Uint8Array[]): { hex: string; txid: string } {
  const tx = Transaction.fromPSBT(psbt);
  if (signatures.length !== tx.inputsLength) throw new Error(`${signatures.length} signature(s) for ${tx.inputsLength} input(s)`);
  const hashes = taprootSighashes(tx);
  signatures.forEach((sig, i) => {
    const decoded = OutScript.decode((tx.getInput(i).witnessUtxo as { script: Uint8Array }).script);
    if (decoded.type !== 'tr') throw new Error(`input ${i} is not a key-path Taproot input`);
    if (!schnorr.verify(sig, hashes[i] as Uint8Array, decoded.pubkey)) throw new Error(`signature ${i} does not verify`);
    tx.updateInput(i, { tapKeySig: sig });
  });
  tx.finalize();
  return { hex: tx.hex, txid: tx.id };
}

/** A P2WPKH spend request: `publicKey` is the 33-byte compressed ECDSA key whose hash is spent. */
export type SegwitSpendRequest = Omit<TaprootSpendRequest, 'outputKey'> & { readonly publicKey: Uint8Array };

/**
 * The BIP-143 sighash (SIGHASH_ALL) of every input of `tx`, computed by btc-signer: each input must
 * spend P2WPKH, its script code is the P2PKH script of the key hash, its amount the witnessUtxo's.
 */
export function segwitSighashes(tx: Transaction): Uint8Array[] {
  return Array.from({ length: tx.inputsLength }, (_, i) => {
    const w = tx.getInput(i).witnessUtxo;
    if (!w) throw new Error(`input ${i} has no witnessUtxo`);
    const spent = OutScript.decode(w.script);
    if (spent.type !== 'wpkh') throw new Error(`input ${i} is not P2WPKH`);
    return tx.preimageWitnessV0(i, OutScript.encode({ type: 'pkh', hash: spent.hash }), SigHash.ALL, w.amount);
  });
}

/** An unsigned PSBT spending P2WPKH `utxos` of `publicKey` to `to`, change back to the same address. */
export function buildSegwitSpend(req: SegwitSpendRequest): TaprootSpend {
  if (req.publicKey.length !== 33) throw new Error('P2WPKH needs a 33-byte compressed public key');
  const { publicKey, ...rest } = req;
  return buildSpend({ ...rest, outputKey: publicKey, kind: 'wpkh' }, segwitAddress(publicKey, req.network), segwitSighashes);
}

/**
 * The signed transaction from the PSBT and one ECDSA signature r ‖ s (64 bytes, low-S) per input
 * (input order), all by `publicKey`. Each is verified with `secp256k1.verify` against the input's
 * BIP-143 sighash, then put in the witness DER-encoded with SIGHASH_ALL; a bad one throws.
 */
export function finalizeSegwitSpend(psbt: Uint8Array, signatures: readonly Uint8Array[], publicKey: Uint8Array): { hex: string; txid: string } {
  const tx = Transaction.fromPSBT(psbt);
  if (signatures.length !== tx.inputsLength) throw new Error(`${signatures.length} signature(s) for ${tx.inputsLength} input(s)`);
  const hashes = segwitSighashes(tx);
  const ours = hex.encode(OutScript.encode({ type: 'wpkh', hash: hash160(publicKey) }));
  signatures.forEach((sig, i) => {
    if (hex.encode(tx.getInput(i).witnessUtxo!.script) !== ours) throw new Error(`input ${i} is not spent by this key`);
    if (!secp256k1.verify(sig, hashes[i] as Uint8Array, publicKey, { prehash: false, lowS: true })) throw new Error(`signature ${i} does not verify`);
    const der = secp256k1.Signature.fromBytes(sig, 'compact').toBytes('der');
    tx.updateInput(i, { partialSig: [[publicKey, Uint8Array.from([...der, SigHash.ALL])]] });
  });
  tx.finalize();
  return { hex: tx.hex, txid: tx.id };
}
