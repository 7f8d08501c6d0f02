// Local development host only. `make demo`'s threshold ECDSA outcomes (the dkls23-secp256k1 key every
// paired user has): pay ETH_TEST from vault 0's derived Ethereum address (EIP-1559 on Sepolia; viem
// recovers the sender from the signed transaction and it must be that address), pay BTC_TEST_SEGWIT
// from a P2WPKH vault address (SegWit v0 input, witness checked with secp256k1.verify), and have the
// coordinator tamper with an Ethereum payload, which the co-signer itself refuses
// (ERR_PAYLOAD_MISMATCH: it recomputes the EIP-1559 signing hash from rawTx) without asking the handler.
import { DEMO_ECDSA_RECIPIENTS, verifyEthereumTransfer, verifySegwitTransfer } from './demo-ecdsa-transfers.ts';
import type { TransferTx, VaultAddress } from './demo-transfers.ts';

/** What the demo driver lends this step: its output, its outcome list and its REST calls. */
export interface EcdsaDemoContext {
  readonly handler: { readonly calls: readonly unknown[] };
  say(line: string): void;
  step(title: string): void;
  expectThat(name: string, ok: boolean, detail: string): void;
  transfer(label: string, input: Record<string, unknown>): Promise<TransferTx>;
  vaultAddress(asset: string, vault: number): Promise<VaultAddress>;
}

/** Step 7b: ETH_TEST and BTC_TEST_SEGWIT transfers signed with the threshold ECDSA key, and a refused tamper. */
export async function runEcdsaTransactions(c: EcdsaDemoContext): Promise<void> {
  c.step('7b. threshold ECDSA (DKLs23) transfers: ETH_TEST (EIP-1559, Sepolia) and BTC_TEST_SEGWIT (P2WPKH, testnet)');
  let eth: VaultAddress;
  let btc: VaultAddress;
  try {
    eth = await c.vaultAddress('ETH_TEST', 0);
    btc = await c.vaultAddress('BTC_TEST_SEGWIT', 0);
  } catch (err) {
    c.expectThat('7b. derived ECDSA vault addresses', false, `no ECDSA wallet: ${(err as Error).message}`);
    return;
  }

  const tx10 = await c.transfer('tx 10', { asset: 'ETH_TEST', vault: 0, to: DEMO_ECDSA_RECIPIENTS.ETH_TEST, amount: '0.0025', note: 'demo: pay in ETH' });
  const v10 = await verifyEthereumTransfer(tx10, eth);
  c.say(`tx 10: from ${eth.address} (path ${eth.keyDerivationPath}), signed transaction hash ${String(tx10.networkTxId)}`);
  c.expectThat('10. ETH_TEST transfer from the vault 0 Ethereum address: signed', tx10.status === 'signed' && v10.ok && tx10.transfer?.from === eth.address, v10.detail);

  const tx11 = await c.transfer('tx 11', { asset: 'BTC_TEST_SEGWIT', vault: 0, to: DEMO_ECDSA_RECIPIENTS.BTC_TEST_SEGWIT, amount: '0.0003' });
  const v11 = verifySegwitTransfer(tx11, btc);
  c.say(`tx 11: from ${btc.address} (path ${btc.keyDerivationPath}), txid ${String(tx11.networkTxId)}`);
  c.expectThat('11. BTC_TEST_SEGWIT transfer with a SegWit v0 input: signed', tx11.status === 'signed' && v11.ok && tx11.transfer?.from === btc.address, v11.detail);

  const callsBefore = c.handler.calls.length;
  const tx12 = await c.transfer('tx 12 (coordinator tampers: signing hash of another Ethereum transaction)', { asset: 'ETH_TEST', vault: 0, to: DEMO_ECDSA_RECIPIENTS.ETH_TEST, amount: '0.001', tamper: 'payload' });
  const asked = c.handler.calls.length - callsBefore;
  c.expectThat('12. tampered Ethereum payload refused by the co-signer itself', tx12.status === 'failed' && tx12.error?.code === 'ERR_PAYLOAD_MISMATCH' && asked === 0 && !tx12.signedTx, `${String(tx12.error?.code)}: the enclave recomputed the EIP-1559 signing hash from rawTx; handler calls: ${asked}`);
}
