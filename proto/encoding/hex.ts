// Runs in the enclave and in the reference coordinator. Strict, bounded hex decoding for protocol
// fields: every byte string that arrives from a peer passes through here, so a wrong length or a
// non-hex character is a typed client error, never an exception from deep inside a curve library.
import { CosignerError } from '../errors.ts';

const HEX = /^(?:[0-9a-f]{2})*$/;

/**
 * Decodes lowercase hex of exactly `bytes` bytes (or at most `max` bytes when `bytes` is omitted).
 * @example fromHex(share, { bytes: 32, field: 'signatureShare' })
 */
export function fromHex(value: unknown, opts: { bytes?: number; max?: number; field: string }): Uint8Array {
  if (typeof value !== 'string' || !HEX.test(value)) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', `${opts.field} must be lowercase hex`, { details: { field: opts.field } });
  }
  const n = value.length / 2;
  if ((opts.bytes !== undefined && n !== opts.bytes) || (opts.max !== undefined && n > opts.max)) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', `${opts.field} has the wrong length`, { details: { field: opts.field, length: n } });
  }
  return Uint8Array.from(Buffer.from(value, 'hex'));
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
