// Ethereum EIP-1559 builders, checked with a plain secp256k1 key and, independently of
// micro-eth-signer, with viem: the signed transaction parses and its sender recovers to the address.
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { hex } from '@scure/base';
import { getAddress, keccak256, parseTransaction, recoverTransactionAddress, type Hex } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { buildEthereumTransfer, ethereumAddress, finalizeEthereumTransfer, SEPOLIA_CHAIN_ID, weiToEth } from '../../../local/chains/ethereum.ts';
import { ecdsaKey, ecdsaSign } from './keys.ts';

const sender = ecdsaKey(5);
const to = ethereumAddress(ecdsaKey(6).publicKey);

describe('Ethereum addresses', () => {
  it('are the EIP-55 checksummed keccak of the uncompressed key, as viem derives them', () => {
    expect(ethereumAddress(sender.publicKey)).toBe(privateKeyToAddress(`0x${hex.encode(sender.secret)}`));
    expect(ethereumAddress(secp256k1.getPublicKey(sender.secret, false))).toBe(ethereumAddress(sender.publicKey));
    expect(getAddress(to.toLowerCase())).toBe(to);
  });

  it('of the secret 1 is the published one for the generator point', () => {
    // Private key 0x…01: the address every Ethereum library documents for G.
    expect(ethereumAddress(secp256k1.getPublicKey(Uint8Array.from([...new Uint8Array(31), 1])))).toBe('0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
  });
});

describe('Ethereum EIP-1559 transfers', () => {
  it('build an unsigned type-2 transaction whose payload is keccak256 of rawTx; viem reads the same fields', () => {
    const t = buildEthereumTransfer({ nonce: 7n, to: to.toLowerCase(), value: 250_000_000_000_000n });
    expect(t.entry.format).toBe('ethereum');
    expect(t.entry.rawTx.startsWith('02')).toBe(true);
    expect(t.entry.payload).toBe(hex.encode(keccak_256(hex.decode(t.entry.rawTx))));
    expect(keccak256(`0x${t.entry.rawTx}`)).toBe(`0x${t.entry.payload}`);
    const parsed = parseTransaction(`0x${t.entry.rawTx}`);
    expect(parsed).toMatchObject({ type: 'eip1559', chainId: Number(SEPOLIA_CHAIN_ID), nonce: 7, to: to.toLowerCase(), value: 250_000_000_000_000n, gas: 21_000n });
    expect(t.to).toBe(to);
    expect(t.amountStr).toBe('0.00025');
    expect(t.maxFee).toBe(21_000n * 30_000_000_000n);
  });

  it('assemble the signed transaction; viem recovers the sender and parses yParity, r, s', async () => {
    const t = buildEthereumTransfer({ nonce: 0n, to, value: 10n ** 15n });
    const { signature, recovery } = ecdsaSign(hex.decode(t.entry.payload), sender.secret);
    const signed = finalizeEthereumTransfer(t.entry.rawTx, signature, recovery, sender.publicKey);
    expect(signed.from).toBe(ethereumAddress(sender.publicKey));
    expect(await recoverTransactionAddress({ serializedTransaction: signed.signedTx as Hex & `0x02${string}` })).toBe(signed.from);
    const parsed = parseTransaction(signed.signedTx as Hex);
    expect(parsed).toMatchObject({ yParity: recovery, r: `0x${hex.encode(signature.subarray(0, 32))}`, s: `0x${hex.encode(signature.subarray(32))}` });
    expect(signed.hash).toBe(keccak256(signed.signedTx as Hex));
  });

  it('refuse a signature that does not verify, a wrong recovery id, a high-S signature, another key', () => {
    const t = buildEthereumTransfer({ nonce: 1n, to, value: 1n });
    const { signature, recovery } = ecdsaSign(hex.decode(t.entry.payload), sender.secret);
    const bad = Uint8Array.from(signature);
    bad[5] = bad[5]! ^ 1;
    expect(() => finalizeEthereumTransfer(t.entry.rawTx, bad, recovery, sender.publicKey)).toThrow(/verify/);
    expect(() => finalizeEthereumTransfer(t.entry.rawTx, signature, 1 - recovery, sender.publicKey)).toThrow(/recovered sender/);
    const sig = secp256k1.Signature.fromBytes(signature, 'compact');
    const high = new secp256k1.Signature(sig.r, secp256k1.Point.CURVE().n - sig.s).toBytes('compact');
    expect(() => finalizeEthereumTransfer(t.entry.rawTx, high, 1 - recovery, sender.publicKey)).toThrow(/verify/);
    expect(() => finalizeEthereumTransfer(t.entry.rawTx, signature, recovery, ecdsaKey(9).publicKey)).toThrow(/verify/);
    expect(() => finalizeEthereumTransfer(t.entry.rawTx, signature, 2, sender.publicKey)).toThrow(/recovery/);
  });

  it('format wei as ETH', () => {
    expect(weiToEth(1n)).toBe('0.000000000000000001');
    expect(weiToEth(10n ** 18n)).toBe('1');
    expect(weiToEth(1_500_000_000_000_000_000n)).toBe('1.5');
    expect(weiToEth(0n)).toBe('0');
  });
});
