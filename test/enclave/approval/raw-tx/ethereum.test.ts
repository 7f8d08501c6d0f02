// `ethereum` entries: the enclave recomputes the EIP-1559 signing hash from rawTx and refuses every
// transaction that is not exactly one canonical, unsigned type-2 transaction.
import { describe, expect, it } from 'vitest';
import { hex } from '@scure/base';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { serializeTransaction, type Hex } from 'viem';
import { Transaction } from 'micro-eth-signer';
import { checkRawTx } from '../../../../enclave/approval/raw-tx/check.ts';
import { decodeEthereumTx, MAX_ETH_ACCESS_LIST, MAX_ETH_TX_BYTES } from '../../../../enclave/approval/raw-tx/ethereum.ts';
import type { ThresholdScheme } from '../../../../enclave/vault/records.ts';
import { buildEthereumTransfer, ethereumAddress, finalizeEthereumTransfer } from '../../../../local/chains/ethereum.ts';
import { ecdsaKey, ecdsaSign } from '../../../local/chains/keys.ts';

const key = ecdsaKey(1);
const to = ethereumAddress(ecdsaKey(2).publicKey);
const code = (c: string) => expect.objectContaining({ code: c });
const check = (rawTx: Uint8Array, payload: Uint8Array, scheme: ThresholdScheme = 'dkls23-secp256k1') =>
  () => checkRawTx({ format: 'ethereum', rawTx, payload, scheme, signingPublicKey: key.publicKey });
const transfer = (value = 10n ** 15n, nonce = 0n) => buildEthereumTransfer({ nonce, to, value }).entry;
const bytesOf = (h: string): Uint8Array => hex.decode(h.replace(/^0x/, ''));
/** A viem-serialised transaction and keccak256 of its bytes. */
function viemTx(tx: Parameters<typeof serializeTransaction>[0], signature?: Parameters<typeof serializeTransaction>[1]): { rawTx: Uint8Array; hash: Uint8Array } {
  const rawTx = bytesOf(serializeTransaction(tx, signature));
  return { rawTx, hash: keccak_256(rawTx) };
}
const base = { chainId: 11155111, nonce: 3, to: to as Hex, value: 5n, gas: 21_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n };

describe('ethereum entries', () => {
  it('accept an honest EIP-1559 transaction and its signing hash', () => {
    const e = transfer();
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload))).not.toThrow();
  });

  it('accept what viem serialises (call data and an access list included)', () => {
    const { rawTx, hash } = viemTx({ ...base, type: 'eip1559', data: '0xa9059cbb', accessList: [{ address: to as Hex, storageKeys: [`0x${'01'.repeat(32)}`] }] });
    expect(check(rawTx, hash)).not.toThrow();
    expect(decodeEthereumTx(rawTx)).toMatchObject({ chainId: 11155111n, nonce: 3n, to, value: 5n, data: '0xa9059cbb' });
  });

  it('refuse the signing hash of another transaction', () => {
    const e = transfer(10n ** 15n);
    expect(check(hex.decode(e.rawTx), hex.decode(transfer(10n ** 15n + 1n).payload))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
    expect(check(hex.decode(e.rawTx), hex.decode(transfer(10n ** 15n, 1n).payload))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
    expect(check(hex.decode(e.rawTx), keccak_256(hex.decode(e.rawTx).subarray(1)))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it.each([
    ['legacy (type 0)', () => viemTx({ chainId: 11155111, nonce: 3, to: to as Hex, value: 5n, gas: 21_000n, gasPrice: 2n, type: 'legacy' })],
    ['EIP-2930 (type 1)', () => viemTx({ chainId: 11155111, nonce: 3, to: to as Hex, value: 5n, gas: 21_000n, gasPrice: 2n, type: 'eip2930', accessList: [] })],
  ])('refuse a %s transaction even with its own hash', (_n, make) => {
    const { rawTx, hash } = make();
    expect(check(rawTx, hash)).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse a signed transaction', () => {
    const e = transfer();
    const { signature, recovery } = ecdsaSign(hex.decode(e.payload), key.secret);
    const signed = bytesOf(finalizeEthereumTransfer(e.rawTx, signature, recovery, key.publicKey).signedTx);
    expect(check(signed, hex.decode(e.payload))).toThrow(code('ERR_TX_FORMAT'));
    expect(check(signed, keccak_256(signed))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse trailing bytes', () => {
    const raw = hex.decode(transfer().rawTx);
    const longer = Uint8Array.from([...raw, 0]);
    expect(check(longer, keccak_256(longer))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse non-canonical RLP (a leading zero in an integer, a long-form length)', () => {
    // nonce 3 written as the two-byte string 0x0003 instead of the single byte 0x03.
    const e = bytesOf(serializeTransaction({ ...base, type: 'eip1559' }));
    const listHeader = e[1]!;
    expect(listHeader).toBeLessThan(0xf8); // a short list: header byte = 0xc0 + length
    const at = e.indexOf(0x03, 2 + 4); // after 0x02, list header, chainId 0x83aa36a7
    expect(at).toBe(6);
    const leadingZero = Uint8Array.from([0x02, listHeader + 2, ...e.subarray(2, at), 0x82, 0x00, 0x03, ...e.subarray(at + 1)]);
    expect(check(leadingZero, keccak_256(leadingZero))).toThrow(code('ERR_TX_FORMAT'));
    // The same list with a long-form (0xf8 len) header although it is shorter than 56 bytes.
    const longForm = Uint8Array.from([0x02, 0xf8, listHeader - 0xc0, ...e.subarray(2)]);
    expect(check(longForm, keccak_256(longForm))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse an oversized transaction, too many access-list entries, empty and garbage input', () => {
    const big = viemTx({ ...base, type: 'eip1559', data: `0x${'00'.repeat(MAX_ETH_TX_BYTES)}` });
    expect(check(big.rawTx, big.hash)).toThrow(code('ERR_TX_FORMAT'));
    const accessList = Array.from({ length: MAX_ETH_ACCESS_LIST + 1 }, () => ({ address: to as Hex, storageKeys: [] as Hex[] }));
    const many = viemTx({ ...base, type: 'eip1559', accessList });
    expect(check(many.rawTx, many.hash)).toThrow(code('ERR_TX_FORMAT'));
    expect(check(new Uint8Array(), keccak_256(new Uint8Array()))).toThrow(code('ERR_TX_FORMAT'));
    const garbage = Uint8Array.from([0x02, 0x01, 0x02, 0x03]);
    expect(check(garbage, keccak_256(garbage))).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse chainId 0 (valid on every chain)', () => {
    // viem refuses to serialise chainId 0; micro-eth-signer does when not asked to be strict.
    const rawTx = Transaction.prepare({ type: 'eip1559', chainId: 0n, nonce: 0n, to, value: 1n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, gasLimit: 21_000n }, false).toBytes();
    const hash = keccak_256(rawTx);
    expect(rawTx[0]).toBe(0x02);
    expect(hex.encode(rawTx.subarray(2, 3))).toBe('80'); // chainId: the empty string, 0
    expect(check(rawTx, hash)).toThrow(code('ERR_TX_FORMAT'));
  });

  it.each(['frost-secp256k1-tr', 'frost-ed25519'] as const)('refuse a %s key', (scheme) => {
    const e = transfer();
    expect(check(hex.decode(e.rawTx), hex.decode(e.payload), scheme)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});

describe('ethereum golden signing hash', () => {
  // Published EIP-1559 vector: ethereumjs-monorepo packages/tx/test/eip1559.spec.ts,
  // "unsigned tx -> getMessageToSign()": chainId 4, to 0x01…01, data 0x010200, access list
  // [[0x01…01, [0x01…01 (32 bytes)]]], every other field 0. Its serialisation and signing hash:
  const GOLDEN_RAW = '02f85904808080809401010101010101010101010101010101010101018083010200f838f7940101010101010101010101010101010101010101e1a00101010101010101010101010101010101010101010101010101010101010101';
  const GOLDEN_HASH = 'fa81814f7dd57bad435657a05eabdba2815f41e3f15ddd6139027e7db56b0dea';

  it('recomputes the published hash and accepts it', () => {
    expect(hex.encode(decodeEthereumTx(hex.decode(GOLDEN_RAW)).signingHash)).toBe(GOLDEN_HASH);
    expect(check(hex.decode(GOLDEN_RAW), hex.decode(GOLDEN_HASH))).not.toThrow();
    const other = hex.decode(GOLDEN_HASH);
    other[0] = other[0]! ^ 1;
    expect(check(hex.decode(GOLDEN_RAW), other)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});
