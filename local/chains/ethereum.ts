// Reference coordinator (local mode and tests; never imported by enclave/). Builds unsigned EIP-1559
// Ethereum transactions for a threshold ECDSA key and assembles the signed transaction from the
// co-signers' signature (r ‖ s, recovery id). micro-eth-signer encodes and recovers; nothing here
// serialises RLP or hashes by hand beyond keccak256 of the library's own bytes.
import { keccak_256 } from '@noble/hashes/sha3.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { addr, Transaction } from 'micro-eth-signer';

/** Sepolia, the test network the reference coordinator's ETH_TEST asset names. */
export const SEPOLIA_CHAIN_ID = 11_155_111n;
/** Gas of a plain value transfer (no call data, no access list). */
export const TRANSFER_GAS = 21_000n;
const GWEI = 1_000_000_000n;

/** The EIP-55 checksummed address of a secp256k1 public key (33-byte compressed or 65-byte). */
export function ethereumAddress(publicKey: Uint8Array): string {
  return addr.fromPublicKey(publicKey);
}

export interface EthereumTransferRequest {
  readonly chainId?: bigint;
  readonly nonce: bigint;
  /** Checksummed (EIP-55) or all-lowercase recipient. */
  readonly to: string;
  /** Wei. */
  readonly value: bigint;
  readonly maxFeePerGas?: bigint;
  readonly maxPriorityFeePerGas?: bigint;
  readonly gasLimit?: bigint;
}

/** One rawTx entry as the coordinator sends it (hex), before a key derivation path is attached. */
export interface EthereumRawTxEntry {
  readonly format: 'ethereum';
  /** 0x02 ‖ rlp([...9 fields]), hex without 0x. */
  readonly rawTx: string;
  /** keccak256(rawTx): the EIP-1559 signing hash. */
  readonly payload: string;
}

export interface EthereumTransfer {
  readonly entry: EthereumRawTxEntry;
  readonly to: string;
  readonly value: bigint;
  /** Largest fee the transaction can cost: gasLimit × maxFeePerGas, wei. */
  readonly maxFee: bigint;
  /** `value` in ETH as a decimal string (the handler's `amountStr`). */
  readonly amountStr: string;
}

/** Wei as an ETH decimal string without trailing zeros ("0.00025", "1"). */
export function weiToEth(wei: bigint): string {
  const s = wei.toString().padStart(19, '0');
  const frac = s.slice(-18).replace(/0+$/, '');
  return frac === '' ? s.slice(0, -18) : `${s.slice(0, -18)}.${frac}`;
}

/** An unsigned EIP-1559 value transfer and its signing hash. */
export function buildEthereumTransfer(req: EthereumTransferRequest): EthereumTransfer {
  const to = addr.addChecksum(req.to);
  const tx = Transaction.prepare({
    type: 'eip1559',
    chainId: req.chainId ?? SEPOLIA_CHAIN_ID,
    nonce: req.nonce,
    to,
    value: req.value,
    maxFeePerGas: req.maxFeePerGas ?? 30n * GWEI,
    maxPriorityFeePerGas: req.maxPriorityFeePerGas ?? 1n * GWEI,
    gasLimit: req.gasLimit ?? TRANSFER_GAS,
  });
  const bytes = tx.toBytes({ includeSignature: false });
  return {
    entry: { format: 'ethereum', rawTx: hex.encode(bytes), payload: hex.encode(keccak_256(bytes)) },
    to,
    value: req.value,
    maxFee: tx.fee,
    amountStr: weiToEth(req.value),
  };
}

export interface SignedEthereumTransfer {
  /** The signed transaction, 0x-prefixed hex, as eth_sendRawTransaction takes it. */
  readonly signedTx: string;
  /** keccak256 of the signed transaction: the id explorers show. */
  readonly hash: string;
  /** The sender recovered from the signature. */
  readonly from: string;
}

/**
 * The signed transaction from the unsigned one (hex) and an ECDSA signature r ‖ s (64 bytes, low-S)
 * with its recovery id. The signature is verified with `secp256k1.verify` against `publicKey`
 * and the sender recovered from it must be that key's address; otherwise this throws.
 */
export function finalizeEthereumTransfer(rawTx: string, signature: Uint8Array, recovery: number, publicKey: Uint8Array): SignedEthereumTransfer {
  if (signature.length !== 64) throw new Error('an ECDSA signature is r ‖ s, 64 bytes');
  if (recovery !== 0 && recovery !== 1) throw new Error('the recovery id must be 0 or 1');
  const bytes = hex.decode(rawTx);
  const unsigned = Transaction.fromBytes(bytes);
  if (unsigned.type !== 'eip1559' || unsigned.isSigned) throw new Error('not an unsigned EIP-1559 transaction');
  // lowS: true refuses a high-S signature, which EIP-2 makes invalid on chain.
  if (!secp256k1.verify(signature, keccak_256(bytes), publicKey, { prehash: false, lowS: true })) throw new Error('the signature does not verify');
  const r = BigInt(`0x${hex.encode(signature.subarray(0, 32))}`);
  const s = BigInt(`0x${hex.encode(signature.subarray(32))}`);
  const signed = new Transaction('eip1559', { ...(unsigned.raw as object), r, s, yParity: recovery } as never, { strict: false });
  const from = signed.recoverSender().address;
  if (from !== ethereumAddress(publicKey)) throw new Error('the recovered sender is not the signing key\'s address (wrong recovery id?)');
  return { signedTx: signed.toHex(), hash: signed.hash, from };
}
