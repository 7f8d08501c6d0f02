import { describe, expect, it } from 'vitest';
import { hex } from '@scure/base';
import { checkRawTx } from '../../../../enclave/approval/raw-tx/check.ts';
import { buildSolanaTransfer, solanaAddress } from '../../../../local/chains/solana.ts';
import { BLOCKHASH, ed25519Key } from '../../../local/chains/keys.ts';

const sender = ed25519Key(3);
const recipient = ed25519Key(4);
const transfer = buildSolanaTransfer({ from: sender.publicKey, to: solanaAddress(recipient.publicKey), lamports: 1_000_000n, recentBlockhash: BLOCKHASH }).entry;
const rawTx = hex.decode(transfer.rawTx);
const payload = hex.decode(transfer.payload);
const check = (raw: Uint8Array, p: Uint8Array, key = sender.publicKey, scheme: 'frost-ed25519' | 'frost-secp256k1-tr' = 'frost-ed25519') =>
  () => checkRawTx({ format: 'solana', rawTx: raw, payload: p, scheme, signingPublicKey: key });
const code = (c: string) => expect.objectContaining({ code: c });

describe('solana entries', () => {
  it('accept the message of a transfer the key must sign', () => {
    expect(check(rawTx, payload)).not.toThrow();
  });

  it('refuse a payload that is not the message', () => {
    const other = Uint8Array.from(payload);
    other[other.length - 1] = other[other.length - 1]! ^ 1;
    expect(check(rawTx, other)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
    expect(check(rawTx, payload.subarray(0, payload.length - 1))).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it('refuse a key that is not a required signer (the recipient is an account, not a signer)', () => {
    expect(check(rawTx, payload, recipient.publicKey)).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });

  it.each([
    ['a truncated transaction', rawTx.subarray(0, rawTx.length - 3)],
    ['a transaction cut inside its signatures', rawTx.subarray(0, 40)],
    ['trailing bytes', Uint8Array.from([...rawTx, 0])],
    ['garbage', Uint8Array.from([0xff, 0xff, 0xff])],
    ['an empty transaction', new Uint8Array()],
    ['an oversized transaction', new Uint8Array(1233)],
  ])('refuse %s', (_n, bytes) => {
    expect(check(bytes, payload)).toThrow(code('ERR_TX_FORMAT'));
  });

  it('refuse a secp256k1 key', () => {
    expect(check(rawTx, payload, sender.publicKey, 'frost-secp256k1-tr')).toThrow(code('ERR_PAYLOAD_MISMATCH'));
  });
});
