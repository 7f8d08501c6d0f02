// Local development host only. `make demo`'s threshold ECDSA transfers (ETH_TEST, BTC_TEST_SEGWIT):
// recipients, and checks of what the reference coordinator returns with libraries independent of the
// co-signer's code: viem parses the signed Ethereum transaction and recovers its sender, which must
// be the vault address; the SegWit v0 witness signature is checked with noble's `secp256k1.verify`
// over the BIP-143 sighash btc-signer recomputes from the PSBT.
import { createHash } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Transaction } from '@scure/btc-signer';
import { hex } from '@scure/base';
import { keccak256, parseTransaction, recoverTransactionAddress, type Hex } from 'viem';
import { segwitAddress, segwitSighashes } from './chains/bitcoin.ts';
import { ethereumAddress } from './chains/ethereum.ts';
import type { TransferTx, VaultAddress } from './demo-transfers.ts';

const seed = (label: string): Uint8Array => new Uint8Array(createHash('sha256').update(`nitro-cosigner demo ${label}`).digest());

/** Recipients outside the workspace (fixed keys, so the output is the same on every run). */
export const DEMO_ECDSA_RECIPIENTS = {
  ETH_TEST: ethereumAddress(secp256k1.getPublicKey(seed('ethereum recipient'))),
  BTC_TEST_SEGWIT: segwitAddress(secp256k1.getPublicKey(seed('segwit recipient'))),
} as const;

/** The signed EIP-1559 transaction: viem parses it and recovers the sender, which must be the vault address. */
export async function verifyEthereumTransfer(tx: TransferTx, from: VaultAddress): Promise<{ ok: boolean; detail: string }> {
  if (!tx.signedTx || !tx.entries[0]) return { ok: false, detail: 'no signed transaction' };
  const signed = tx.signedTx as Hex;
  let sender: string;
  try {
    if (parseTransaction(signed).type !== 'eip1559') return { ok: false, detail: 'not an EIP-1559 transaction' };
    sender = await recoverTransactionAddress({ serializedTransaction: signed as `0x02${string}` });
  } catch (err) {
    return { ok: false, detail: `viem cannot read it: ${(err as Error).message.split('\n')[0]}` };
  }
  if (sender !== from.address) return { ok: false, detail: `viem recovers sender ${sender}, not ${from.address}` };
  if (keccak256(signed) !== tx.networkTxId) return { ok: false, detail: 'the transaction hash differs from the signed bytes' };
  return { ok: true, detail: `viem recovered the sender ${sender} = the vault address` };
}

/** Every input's witness: the vault's compressed key and a DER signature verifying over the BIP-143 sighash. */
export function verifySegwitTransfer(tx: TransferTx, from: VaultAddress): { ok: boolean; detail: string } {
  if (!tx.signedTx || !tx.entries[0]) return { ok: false, detail: 'no signed transaction' };
  const psbt = Transaction.fromPSBT(hex.decode(tx.entries[0].rawTx));
  const signed = Transaction.fromRaw(hex.decode(tx.signedTx));
  const hashes = segwitSighashes(psbt);
  for (let i = 0; i < psbt.inputsLength; i++) {
    const [der, pub] = signed.getInput(i).finalScriptWitness ?? [];
    if (!der || !pub || hex.encode(pub) !== from.publicKey) return { ok: false, detail: `input ${i} is not signed by ${from.address}` };
    if (!secp256k1.verify(der.subarray(0, -1), hashes[i] as Uint8Array, pub, { prehash: false, format: 'der', lowS: true })) return { ok: false, detail: `input ${i}: ECDSA signature does not verify` };
  }
  if (signed.id !== tx.networkTxId) return { ok: false, detail: 'txid differs from the signed transaction' };
  return { ok: true, detail: `${psbt.inputsLength} SegWit v0 input(s) verified with secp256k1.verify over the BIP-143 sighash` };
}
