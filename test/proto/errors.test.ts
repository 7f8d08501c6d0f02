import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../proto/errors.ts';
import { loadSchema } from '../../proto/runtime/schema.ts';
import { fromWireError, toWireError } from '../../proto/runtime/wire-error.ts';
import { CosignerError, type ErrorCode } from '../../proto/errors.ts';

describe('ErrorCode enum mirrors ERROR_CODES', () => {
  const values = loadSchema().ErrorCode.values;
  const protoNames = Object.keys(values).filter((k) => k !== 'ERROR_CODE_UNSPECIFIED');
  const tsNames = Object.keys(ERROR_CODES);

  it('every ERROR_CODES key is in the proto enum', () => {
    expect(tsNames.filter((k) => !(k in values))).toEqual([]);
  });

  it('every proto enum value is in ERROR_CODES', () => {
    expect(protoNames.filter((k) => !(k in ERROR_CODES))).toEqual([]);
  });

  it('enum numbers are unique and 0 is reserved for unspecified', () => {
    const nums = Object.values(values);
    expect(new Set(nums).size).toBe(nums.length);
    expect(values.ERROR_CODE_UNSPECIFIED).toBe(0);
  });

  it('every code survives the wire with its code and retryable flag', () => {
    for (const code of tsNames as ErrorCode[]) {
      const back = fromWireError(toWireError(new CosignerError(code, `m ${code}`)));
      expect(back.code).toBe(code);
      expect(back.retryable).toBe(ERROR_CODES[code].retryable);
      expect(back.message).toBe(`m ${code}`);
    }
  });

  it('a non-CosignerError crosses as ERR_INTERNAL without its message', () => {
    const w = toWireError(new Error('secret-canary-123'));
    expect(fromWireError(w).code).toBe('ERR_INTERNAL');
    expect(JSON.stringify(w)).not.toContain('secret-canary-123');
  });

  it('an unknown enum number becomes the fallback code', () => {
    expect(fromWireError({ code: 99999, message: 'x', retryable: true }).code).toBe('ERR_INTERNAL');
    expect(fromWireError({ code: 'ERR_INTERNAL' }, 'ERR_STREAM_RESET').code).toBe('ERR_STREAM_RESET');
  });
});
