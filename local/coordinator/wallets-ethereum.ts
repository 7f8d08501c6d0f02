// Reference coordinator (test stand-in, loopback only). The Ethereum side of the wallets: checking a
// destination address and assembling the signed EIP-1559 transaction from the threshold ECDSA
// signature, then checking it with a second library (viem) before it is handed out: the sender
// viem recovers from the signed bytes must be the wallet's address.
import { hex } from '@scure/base';
import { addr } from 'micro-eth-signer';
import { keccak256, recoverTransactionAddress, type Hex } from 'viem';
import { CosignerError } from '../../proto/errors.ts';
import { finalizeEthereumTransfer } from '../chains/ethereum.ts';
import type { TransactionEntry } from './state.ts';

/** An Ethereum address: all lower case, or in its EIP-55 checksummed form; returned checksummed. */
export function checkEthereumDestination(to: string): string {
  let checksummed: string | undefined;
  try {
    checksummed = /^0x[0-9a-fA-F]{40}$/.test(to) ? addr.addChecksum(to) : undefined;
  } catch {
    checksummed = undefined;
  }
  // Mixed case that is not the checksum is a typo, not an address.
  if (checksummed === undefined || (to !== to.toLowerCase() && to !== checksummed)) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'to is not an Ethereum address (lower case or EIP-55 checksummed)');
  }
  return checksummed;
}

/**
 * The signed transaction of an `ethereum` entry: r ‖ s and the recovery id the signers filled in,
 * verified against the wallet's key (micro-eth-signer), then recovered independently by viem.
 */
export async function finalizeEthereum(entry: TransactionEntry, from: { address: string; publicKey: string }): Promise<{ signedTx: string; networkTxId: string }> {
  if (entry.recovery === undefined) throw new Error('the ECDSA signature has no recovery id');
  const signed = finalizeEthereumTransfer(entry.rawTx, hex.decode(entry.signature ?? ''), entry.recovery, hex.decode(from.publicKey));
  const serializedTransaction = signed.signedTx as `0x02${string}`;
  const sender = await recoverTransactionAddress({ serializedTransaction });
  if (sender !== from.address || signed.from !== from.address) throw new Error(`the signed transaction's sender ${sender} is not the wallet address ${from.address}`);
  if (keccak256(serializedTransaction as Hex) !== signed.hash) throw new Error('the transaction hash does not match the signed bytes');
  return { signedTx: signed.signedTx, networkTxId: signed.hash };
}
