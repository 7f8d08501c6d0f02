// Runs in the enclave. `ethereum` entries: rawTx is an unsigned EIP-1559 transaction,
// `0x02 ‖ rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
// accessList])`, and payload must be keccak256 of exactly those bytes (the EIP-1559 signing hash,
// which an ECDSA key signs with a recovery id). micro-eth-signer decodes; the enclave then re-encodes
// and requires the very same bytes, so no non-canonical RLP, trailing byte or field the library
// would drop or rewrite can make the handler and a node read two different transactions.
import { timingSafeEqual } from 'node:crypto';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { Transaction } from 'micro-eth-signer';
import { CosignerError } from '../../../proto/errors.ts';

/** Largest rawTx read (bytes), like the other formats (the handler-facing bound is 16 KiB too). */
export const MAX_ETH_TX_BYTES = 16 * 1024;
/** Most call-data bytes: what fits a request beside the RLP framing. */
export const MAX_ETH_DATA_BYTES = 15 * 1024;
/** Most access-list addresses, and storage keys over all of them. */
export const MAX_ETH_ACCESS_LIST = 64;
export const MAX_ETH_STORAGE_KEYS = 256;
/** EIP-2718 type byte of EIP-1559 transactions. */
const EIP1559_TYPE = 0x02;
/** chainId ≥ 1 (0 would sign for every chain) and within 64 bits (EIP-2294's bound). */
const MAX_CHAIN_ID = (1n << 64n) - 1n;

const formatError = (why: string): CosignerError => new CosignerError('ERR_TX_FORMAT', `ethereum: ${why}`);

/** What an unsigned EIP-1559 transaction says, decoded and checked. */
export interface EthereumTx {
  readonly chainId: bigint;
  readonly nonce: bigint;
  /** Checksummed recipient, or '0x' for contract creation. */
  readonly to: string;
  /** Wei. */
  readonly value: bigint;
  /** Call data, 0x-prefixed hex. */
  readonly data: string;
  /** keccak256(rawTx): what the key signs. */
  readonly signingHash: Uint8Array;
}

type Eip1559Raw = {
  chainId: bigint; nonce: bigint; to: string; value: bigint; data: string;
  accessList: { address: string; storageKeys: string[] }[];
};

type Decoded = ReturnType<typeof Transaction.fromBytes>;

function decode(rawTx: Uint8Array): Decoded {
  if (rawTx.length === 0 || rawTx.length > MAX_ETH_TX_BYTES) throw formatError(`a transaction must hold 1..${MAX_ETH_TX_BYTES} bytes`);
  // Only type 2: legacy (first byte ≥ 0xc0), EIP-2930 (1), blob (3) and set-code (4) transactions
  // hash differently or carry more than a transfer; refusing them keeps one meaning per payload.
  if (rawTx[0] !== EIP1559_TYPE) throw formatError('only EIP-1559 (type 2) transactions are accepted');
  let tx: Decoded;
  try {
    tx = Transaction.fromBytes(rawTx, false);
  } catch {
    throw formatError('not a readable EIP-1559 transaction');
  }
  if (tx.type !== 'eip1559') throw formatError('only EIP-1559 (type 2) transactions are accepted');
  if (tx.isSigned) throw formatError('the transaction already carries a signature');
  let again: Uint8Array;
  try {
    again = tx.toBytes({ includeSignature: false });
  } catch {
    throw formatError('the transaction does not re-encode');
  }
  // Canonical RLP only: leading zeros, long forms of short items and trailing bytes all fail here.
  if (again.length !== rawTx.length || !timingSafeEqual(again, rawTx)) throw formatError('not the canonical encoding of its fields');
  return tx;
}

/** Decodes and bounds an unsigned EIP-1559 transaction; throws ERR_TX_FORMAT. */
export function decodeEthereumTx(rawTx: Uint8Array): EthereumTx {
  const tx = decode(rawTx);
  const raw = tx.raw as unknown as Eip1559Raw;
  if (raw.chainId < 1n || raw.chainId > MAX_CHAIN_ID) throw formatError('chainId must be 1..2^64-1');
  const dataBytes = (raw.data.length - (raw.data.startsWith('0x') ? 2 : 0)) / 2;
  if (dataBytes > MAX_ETH_DATA_BYTES) throw formatError(`call data above ${MAX_ETH_DATA_BYTES} bytes`);
  if (raw.accessList.length > MAX_ETH_ACCESS_LIST) throw formatError(`more than ${MAX_ETH_ACCESS_LIST} access-list entries`);
  const keys = raw.accessList.reduce((n, e) => n + e.storageKeys.length, 0);
  if (keys > MAX_ETH_STORAGE_KEYS) throw formatError(`more than ${MAX_ETH_STORAGE_KEYS} access-list storage keys`);
  return { chainId: raw.chainId, nonce: raw.nonce, to: raw.to, value: raw.value, data: raw.data, signingHash: keccak_256(rawTx) };
}

/** Throws unless `payload` is the EIP-1559 signing hash of `rawTx`, recomputed here. */
export function checkEthereum(rawTx: Uint8Array, payload: Uint8Array): void {
  const { signingHash } = decodeEthereumTx(rawTx);
  if (payload.length !== signingHash.length || !timingSafeEqual(payload, signingHash)) {
    throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'payload is not the EIP-1559 signing hash of this transaction');
  }
}
