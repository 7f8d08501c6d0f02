// Runs in the enclave. `solana` entries: rawTx is a serialized transaction (signature slots may be
// zero) and payload must be exactly its message bytes, with the signing key among the message's
// required signers. Decoding is @solana/transactions' and @solana/transaction-messages'.
import { timingSafeEqual } from 'node:crypto';
import { getTransactionDecoder } from '@solana/transactions';
import { getCompiledTransactionMessageDecoder } from '@solana/transaction-messages';
import { base58 } from '@scure/base';
import { CosignerError } from '../../../proto/errors.ts';

/** The network's packet limit for a whole transaction. */
export const MAX_SOLANA_TX_BYTES = 1232;

const formatError = (why: string): CosignerError => new CosignerError('ERR_TX_FORMAT', `solana: ${why}`);

/** The message bytes and its required signers (base58 addresses) of a wire transaction; throws ERR_TX_FORMAT. */
export function decodeSolanaTransaction(rawTx: Uint8Array): { messageBytes: Uint8Array; signers: string[] } {
  if (rawTx.length === 0 || rawTx.length > MAX_SOLANA_TX_BYTES) throw formatError(`a transaction must hold 1..${MAX_SOLANA_TX_BYTES} bytes`);
  let messageBytes: Uint8Array;
  let message: ReturnType<ReturnType<typeof getCompiledTransactionMessageDecoder>['decode']>;
  try {
    const [tx, end] = getTransactionDecoder().read(rawTx, 0);
    if (end !== rawTx.length) throw new Error('trailing bytes');
    messageBytes = Uint8Array.from(tx.messageBytes);
    const [m, mEnd] = getCompiledTransactionMessageDecoder().read(messageBytes, 0);
    // The message must be read to its last byte: nothing the network would ignore may be signed.
    if (mEnd !== messageBytes.length) throw new Error('trailing message bytes');
    message = m;
  } catch {
    throw formatError('not a readable legacy or v0 transaction');
  }
  if (message.version !== 'legacy' && message.version !== 0) throw formatError('only legacy and v0 messages are accepted');
  const n = message.header.numSignerAccounts;
  if (n < 1 || n > message.staticAccounts.length) throw formatError('the message header names no valid signers');
  return { messageBytes, signers: message.staticAccounts.slice(0, n).map(String) };
}

/** Throws unless `payload` is exactly the message of `rawTx` and `signingKey` (32-byte Ed25519) is a required signer. */
export function checkSolana(rawTx: Uint8Array, payload: Uint8Array, signingKey: Uint8Array): void {
  const { messageBytes, signers } = decodeSolanaTransaction(rawTx);
  if (payload.length !== messageBytes.length || !timingSafeEqual(payload, messageBytes)) {
    throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'payload is not the message of this Solana transaction');
  }
  if (signingKey.length !== 32 || !signers.includes(base58.encode(signingKey))) {
    throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'the signing key is not a required signer of this Solana transaction');
  }
}
