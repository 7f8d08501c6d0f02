import { describe, expect, it } from 'vitest';
import { checkRawTx, type RawTxFormat } from '../../../../enclave/approval/raw-tx/check.ts';

const key = new Uint8Array(32).fill(7);
const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

describe('raw message entries', () => {
  it('sign exactly their rawTx bytes', () => {
    expect(() => checkRawTx({ format: 'raw', rawTx: bytes('deadbeef'), payload: bytes('deadbeef'), scheme: 'frost-ed25519', signingPublicKey: key })).not.toThrow();
  });

  it.each([['deadbeee'], ['deadbe'], ['']])('refuse a payload (%s) that differs from rawTx', (payload) => {
    expect(() => checkRawTx({ format: 'raw', rawTx: bytes('deadbeef'), payload: bytes(payload), scheme: 'frost-ed25519', signingPublicKey: key })).toThrow(expect.objectContaining({ code: 'ERR_PAYLOAD_MISMATCH' }));
  });

  it('refuse a format the enclave cannot read', () => {
    expect(() => checkRawTx({ format: 'zcash' as RawTxFormat, rawTx: bytes('00'), payload: bytes('00'), scheme: 'frost-ed25519', signingPublicKey: key })).toThrow(expect.objectContaining({ code: 'ERR_TX_FORMAT' }));
  });
});
