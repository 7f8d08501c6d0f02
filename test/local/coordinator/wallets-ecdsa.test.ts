// Reference coordinator wallets for the threshold ECDSA key, without a signing stack: ETH_TEST and
// BTC_TEST_SEGWIT addresses derived at [44, coin, vault, 0, 0] by BIP-32 CKDpub (checked against
// @scure/bip32 and viem), destination checks, and the Ethereum finalisation that viem verifies.
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { HDKey } from '@scure/bip32';
import { parseTransaction, type Hex } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { derivePublicKey } from '../../../enclave/mpc/derivation.ts';
import { walletAddress } from '../../../local/coordinator/wallets.ts';
import { checkEthereumDestination, finalizeEthereum } from '../../../local/coordinator/wallets-ethereum.ts';
import type { CoordinatorState, TransactionEntry } from '../../../local/coordinator/state.ts';
import { segwitAddress } from '../../../local/chains/bitcoin.ts';
import { buildEthereumTransfer, ethereumAddress } from '../../../local/chains/ethereum.ts';
import { ecdsaKey, ecdsaSign } from '../chains/keys.ts';

const root = ecdsaKey(11);
const chainCode = '42'.repeat(32);
const key = { scheme: 'dkls23-secp256k1', keyId: 'dkls23-secp256k1:k1', groupPublicKey: hex.encode(root.publicKey), chainCode, own: [] };
const st = { users: new Map([['carol', { keys: [key] }]]) } as unknown as CoordinatorState;
/** The same root as a BIP-32 xpub (depth 0): @scure/bip32 derives the non-hardened children. */
const hd = new HDKey({ publicKey: root.publicKey, chainCode: hex.decode(chainCode) });
const childSecret = (path: string): Uint8Array => new HDKey({ privateKey: root.secret, chainCode: hex.decode(chainCode) }).derive(path).privateKey!;

describe('reference coordinator wallets: threshold ECDSA assets', () => {
  it('ETH_TEST: the EIP-55 address of the BIP-32 child at [44, 60, vault, 0, 0]', () => {
    for (const vault of [0, 1, 7]) {
      const w = walletAddress(st, 'carol', 'ETH_TEST', vault);
      const child = hd.derive(`m/44/60/${vault}/0/0`).publicKey!;
      expect(w).toMatchObject({ asset: 'ETH_TEST', vault, keyDerivationPath: `[ 44, 60, ${vault}, 0, 0 ]`, publicKey: hex.encode(child) });
      expect(w.address).toBe(publicKeyToAddress(`0x${hex.encode(secp256k1.Point.fromBytes(child).toBytes(false))}`));
    }
    expect(walletAddress(st, 'carol', 'ETH_TEST', 0).address).not.toBe(walletAddress(st, 'carol', 'ETH_TEST', 1).address);
  });

  it('BTC_TEST_SEGWIT: the tb1q P2WPKH address of the child at [44, 1, vault, 0, 0]', () => {
    const w = walletAddress(st, 'carol', 'BTC_TEST_SEGWIT', 2);
    const child = hd.derive('m/44/1/2/0/0').publicKey!;
    expect(w).toMatchObject({ keyDerivationPath: '[ 44, 1, 2, 0, 0 ]', publicKey: hex.encode(child), address: segwitAddress(child) });
    expect(w.address).toMatch(/^tb1q[02-9ac-hj-np-z]{38}$/);
  });

  it('derivePublicKey gives the compressed 33-byte child key for dkls23 keys', () => {
    const pub = derivePublicKey(key as never, [44, 60, 0, 0, 0]);
    expect(pub).toHaveLength(33);
    expect(hex.encode(pub)).toBe(hex.encode(secp256k1.getPublicKey(childSecret('m/44/60/0/0/0'), true)));
  });

  it('refuses ECDSA assets for a user without a dkls23 key', () => {
    const frostOnly = { users: new Map([['dave', { keys: [{ ...key, scheme: 'frost-secp256k1-tr' }] }]]) } as unknown as CoordinatorState;
    expect(() => walletAddress(frostOnly, 'dave', 'ETH_TEST', 0)).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
    expect(() => walletAddress(frostOnly, 'dave', 'BTC_TEST_SEGWIT', 0)).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });

  it('accepts lower-case and checksummed Ethereum destinations, nothing else', () => {
    const a = ethereumAddress(ecdsaKey(12).publicKey);
    expect(checkEthereumDestination(a)).toBe(a);
    expect(checkEthereumDestination(a.toLowerCase())).toBe(a);
    const wrongCase = a.replace(/[a-f]/, (c) => c.toUpperCase());
    for (const bad of [wrongCase, a.slice(0, -1), `${a}0`, a.slice(2), 'tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx']) {
      expect(() => checkEthereumDestination(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
  });

  it('finalises an ETH_TEST transfer only when viem recovers the wallet address as sender', async () => {
    const w = walletAddress(st, 'carol', 'ETH_TEST', 0);
    const secret = childSecret('m/44/60/0/0/0');
    const t = buildEthereumTransfer({ nonce: 0n, to: ethereumAddress(ecdsaKey(13).publicKey), value: 10n ** 16n });
    const { signature, recovery } = ecdsaSign(hex.decode(t.entry.payload), secret);
    const entry: TransactionEntry = { keyDerivationPath: w.keyDerivationPath, ...t.entry, signature: hex.encode(signature), recovery, publicKey: w.publicKey };
    const out = await finalizeEthereum(entry, w);
    expect(parseTransaction(out.signedTx as Hex)).toMatchObject({ type: 'eip1559', to: t.to.toLowerCase(), value: 10n ** 16n, yParity: recovery });
    expect(out.networkTxId).toMatch(/^0x[0-9a-f]{64}$/);
    await expect(finalizeEthereum({ ...entry, recovery: 1 - recovery }, w)).rejects.toThrow(/recovered sender/);
    await expect(finalizeEthereum({ ...entry, recovery: undefined }, w)).rejects.toThrow(/recovery id/);
    await expect(finalizeEthereum(entry, walletAddress(st, 'carol', 'ETH_TEST', 1))).rejects.toThrow(/verify/);
  });
});
