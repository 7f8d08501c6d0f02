// Local development host only. `make demo`'s transfers: requests to the reference coordinator's
// POST /v1/transfers, and checks of what comes back with the chains' own libraries, independent of
// the co-signer's code: the Bitcoin signature with @scure/btc-signer and BIP-340 `schnorr.verify`
// against the output key in the spent script, the Solana one with Ed25519 over the message.
import { createHash } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { OutScript, Transaction } from '@scure/btc-signer';
import { base64, hex } from '@scure/base';
import { getTransactionDecoder } from '@solana/kit';
import { taprootAddress, taprootSighashes } from './chains/bitcoin.ts';
import { solanaAddress } from './chains/solana.ts';

export interface TransferTx {
  id: string;
  status: string;
  entries: { keyDerivationPath: string; format: string; rawTx: string; payload: string; signature?: string; publicKey?: string }[];
  transfer?: { asset: string; vault: number; from: string; to: string; keyDerivationPath: string };
  signedTx?: string;
  networkTxId?: string;
  error?: { code: string; message: string };
}

export interface VaultAddress {
  asset: string;
  vault: number;
  keyDerivationPath: string;
  publicKey: string;
  address: string;
}

const seed = (label: string): Uint8Array => new Uint8Array(createHash('sha256').update(`nitro-cosigner demo ${label}`).digest());

/** Recipients outside the workspace (fixed keys, so the output is the same on every run). */
export const DEMO_RECIPIENTS = {
  BTC_TEST: taprootAddress(schnorr.getPublicKey(seed('bitcoin recipient'))),
  SOL_TEST: solanaAddress(ed25519.getPublicKey(seed('solana recipient'))),
} as const;

/**
 * The signed Bitcoin transaction's first input: its witness signature checked with BIP-340
 * `schnorr.verify` over the input's sighash (recomputed from the PSBT) against the x-only key of
 * the script it spends, which must be the vault address's key. Every input is checked.
 */
export function verifyBitcoinTransfer(tx: TransferTx, from: VaultAddress): { ok: boolean; detail: string } {
  if (!tx.signedTx || !tx.entries[0]) return { ok: false, detail: 'no signed transaction' };
  const psbt = Transaction.fromPSBT(hex.decode(tx.entries[0].rawTx));
  const signed = Transaction.fromRaw(hex.decode(tx.signedTx));
  const hashes = taprootSighashes(psbt);
  for (let i = 0; i < psbt.inputsLength; i++) {
    const spent = OutScript.decode(psbt.getInput(i).witnessUtxo!.script);
    if (spent.type !== 'tr' || hex.encode(spent.pubkey) !== from.publicKey) return { ok: false, detail: `input ${i} does not spend ${from.address}` };
    const sig = signed.getInput(i).finalScriptWitness?.[0];
    if (!sig || !schnorr.verify(sig, hashes[i] as Uint8Array, spent.pubkey)) return { ok: false, detail: `input ${i}: BIP-340 signature does not verify` };
  }
  if (signed.id !== tx.networkTxId) return { ok: false, detail: 'txid differs from the signed transaction' };
  return { ok: true, detail: `${psbt.inputsLength} input(s) verified with schnorr.verify against the spent output key` };
}

/** The signed Solana transaction's fee-payer signature, checked with Ed25519 over the message bytes. */
export function verifySolanaTransfer(tx: TransferTx, from: VaultAddress): { ok: boolean; detail: string } {
  if (!tx.signedTx) return { ok: false, detail: 'no signed transaction' };
  const wire = getTransactionDecoder().decode(base64.decode(tx.signedTx));
  const sig = wire.signatures[from.address as keyof typeof wire.signatures];
  if (!sig) return { ok: false, detail: `${from.address} did not sign` };
  const ok = ed25519.verify(sig, Uint8Array.from(wire.messageBytes), hex.decode(from.publicKey));
  return { ok, detail: ok ? 'Ed25519 signature over the message verified with the vault key' : 'Ed25519 signature does not verify' };
}

/** Size in bytes of a signed transaction (hex for Bitcoin, base64 for Solana). */
export function signedSize(tx: TransferTx): number {
  if (!tx.signedTx) return 0;
  return /^[0-9a-f]+$/.test(tx.signedTx) ? tx.signedTx.length / 2 : base64.decode(tx.signedTx).length;
}
