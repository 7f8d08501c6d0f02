// Reference coordinator (local mode and tests; never imported by enclave/). Builds real Solana SOL
// transfers from a threshold Ed25519 key and attaches its signature. @solana/kit and
// @solana-program/system build and encode; nothing here is hand-written.
import {
  appendTransactionMessageInstruction, blockhash, compileTransaction, createNoopSigner, createTransactionMessage,
  getAddressDecoder, getBase64EncodedWireTransaction, getTransactionDecoder, getTransactionEncoder, pipe,
  setTransactionMessageFeePayerSigner, setTransactionMessageLifetimeUsingBlockhash, address, type SignatureBytes,
  getCompiledTransactionMessageDecoder, AccountRole, type Address,
} from '@solana/kit';
import { getTransferSolInstruction, parseTransferSolInstruction, SYSTEM_PROGRAM_ADDRESS } from '@solana-program/system';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base58, hex } from '@scure/base';

/** The base58 address of a 32-byte Ed25519 public key. */
export function solanaAddress(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new Error('an Ed25519 public key has 32 bytes');
  return getAddressDecoder().decode(publicKey);
}

export interface SolanaTransferRequest {
  /** Sender's Ed25519 public key (fee payer and signer). */
  readonly from: Uint8Array;
  /** Recipient address (base58). */
  readonly to: string;
  readonly lamports: bigint;
  /** A recent blockhash (base58), the transaction's lifetime. */
  readonly recentBlockhash: string;
  /** Last block height at which the blockhash is valid (only kept for callers that submit). */
  readonly lastValidBlockHeight?: bigint;
}

export interface SolanaRawTxEntry {
  readonly format: 'solana';
  /** Unsigned wire transaction (zeroed signature slot), hex. */
  readonly rawTx: string;
  /** The message bytes, hex: what the key signs. */
  readonly payload: string;
}

/** `lamports` as a SOL decimal string ("0.001000000"), the handler's `amountStr`. */
export function lamportsToSol(lamports: bigint): string {
  const s = lamports.toString().padStart(10, '0');
  return `${s.slice(0, -9)}.${s.slice(-9)}`;
}

/** An unsigned legacy transfer of `lamports` from `from` to `to`. */
export function buildSolanaTransfer(req: SolanaTransferRequest): { entry: SolanaRawTxEntry; from: string; amountStr: string } {
  const from = solanaAddress(req.from);
  const payer = createNoopSigner(address(from));
  const message = pipe(
    createTransactionMessage({ version: 'legacy' }),
    (m) => setTransactionMessageFeePayerSigner(payer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: blockhash(req.recentBlockhash), lastValidBlockHeight: req.lastValidBlockHeight ?? 0n }, m),
    (m) => appendTransactionMessageInstruction(getTransferSolInstruction({ source: payer, destination: address(req.to), amount: req.lamports }), m),
  );
  const tx = compileTransaction(message);
  const wire = getTransactionEncoder().encode(tx);
  return { entry: { format: 'solana', rawTx: hex.encode(Uint8Array.from(wire)), payload: hex.encode(Uint8Array.from(tx.messageBytes)) }, from, amountStr: lamportsToSol(req.lamports) };
}

/**
 * Puts the fee payer's signature into the unsigned transaction `rawTx` and returns the signed wire
 * transaction (base64, what `sendTransaction` takes). The signature is verified over the message
 * with the fee payer's key first; a bad one throws.
 */
export function finalizeSolanaTransfer(rawTx: Uint8Array, signature: Uint8Array): string {
  const tx = getTransactionDecoder().decode(rawTx);
  const signers = Object.keys(tx.signatures);
  const payer = signers[0];
  if (signers.length !== 1 || payer === undefined) throw new Error('expected exactly one signer (the fee payer)');
  if (!ed25519.verify(signature, Uint8Array.from(tx.messageBytes), base58.decode(payer))) throw new Error('signature does not verify');
  const signed = { ...tx, signatures: { ...tx.signatures, [payer as Address]: signature as SignatureBytes } };
  return getBase64EncodedWireTransaction(signed);
}

/** A SOL transfer found in a transaction. */
export interface SolanaTransfer {
  readonly source: string;
  readonly destination: string;
  readonly lamports: bigint;
}

/**
 * Reads a legacy or v0 wire transaction: its message bytes (what the signers sign), its required
 * signers, and its instructions as System Program transfers. `others` counts the instructions that
 * are not SOL transfers (a handler that only approves transfers refuses those). Throws on anything
 * unreadable, on v1 messages and on trailing bytes.
 */
export function readSolanaTransaction(rawTx: Uint8Array): { messageBytes: Uint8Array; signers: string[]; transfers: SolanaTransfer[]; others: number } {
  const [tx, end] = getTransactionDecoder().read(rawTx, 0);
  if (end !== rawTx.length) throw new Error('trailing bytes after the transaction');
  const messageBytes = Uint8Array.from(tx.messageBytes);
  const [m, mEnd] = getCompiledTransactionMessageDecoder().read(messageBytes, 0);
  if (mEnd !== messageBytes.length) throw new Error('trailing bytes after the message');
  if (m.version !== 'legacy' && m.version !== 0) throw new Error('only legacy and v0 messages are read');
  const accounts = m.staticAccounts;
  const transfers: SolanaTransfer[] = [];
  let others = 0;
  for (const ix of m.instructions) {
    const program = accounts[ix.programAddressIndex];
    const metas = (ix.accountIndices ?? []).map((i) => accounts[i]);
    // Accounts from lookup tables (v0) are not in staticAccounts: such an instruction is not
    // readable here and counts as "other".
    if (program !== SYSTEM_PROGRAM_ADDRESS || metas.some((a) => a === undefined) || !ix.data) {
      others++;
      continue;
    }
    try {
      const p = parseTransferSolInstruction({ programAddress: program, accounts: metas.map((a) => ({ address: a as Address, role: AccountRole.READONLY })), data: ix.data });
      transfers.push({ source: p.accounts.source.address, destination: p.accounts.destination.address, lamports: p.data.amount });
    } catch {
      others++;
    }
  }
  return { messageBytes, signers: accounts.slice(0, m.header.numSignerAccounts).map(String), transfers, others };
}
