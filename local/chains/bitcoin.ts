// Reference coordinator (local mode and tests; never imported by enclave/). Builds real Bitcoin
// Taproot key-path spends for a threshold key's output key and finalizes them with the co-signers'
// signatures. @scure/btc-signer builds, hashes and serialises; nothing here is hand-written.
import { Address, OutScript, SigHash, TEST_NETWORK, Transaction } from '@scure/btc-signer';
import type { BTC_NETWORK } from '@scure/btc-signer/utils.js';
import { schnorr } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';

/** Testnet / signet (`tb1p…`) unless told otherwise. */
export const BITCOIN_TESTNET: BTC_NETWORK = TEST_NETWORK;
/** Smallest P2TR output the network relays. */
const DUST_SATS = 330n;
const SIG_PLACEHOLDER = new Uint8Array(64);

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

function unsignedSpend(req: TaprootSpendRequest, from: string, change: bigint): Transaction {
  const network = req.network ?? BITCOIN_TESTNET;
  const script = OutScript.encode({ type: 'tr', pubkey: req.outputKey });
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

function vsizeOf(tx: Transaction): number {
  const t = tx.clone();
  for (let i = 0; i < t.inputsLength; i++) t.updateInput(i, { tapKeySig: SIG_PLACEHOLDER });
  t.finalize();
  return t.vsize;
}

/** An unsigned PSBT spending `utxos` of `outputKey` to `to`, change back to the same address. */
export function buildTaprootSpend(req: TaprootSpendRequest): TaprootSpend {
  if (req.utxos.length === 0) throw new Error('no UTXOs to spend');
  if (req.amount < DUST_SATS) throw new Error('amount is below the dust limit');
  const from = taprootAddress(req.outputKey, req.network);
  const total = req.utxos.reduce((s, u) => s + u.amount, 0n);
  let fee: bigint;
  if (req.fee !== undefined) fee = req.fee;
  else if (req.feeRate !== undefined) fee = BigInt(Math.ceil(vsizeOf(unsignedSpend(req, from, 1n)) * req.feeRate));
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
    entries: taprootSighashes(tx).map((h) => ({ format: 'bitcoin-psbt' as const, rawTx, payload: hex.encode(h) })),
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
