import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { BUILD_ATTESTATION_MODE, resolveMode } from '../../../enclave/attestation/build-mode.ts';

describe('build-time attestation mode', () => {
  it('defaults to dev when unbundled (no define)', () => {
    expect(BUILD_ATTESTATION_MODE).toBe('dev');
  });
  it('maps the define and refuses unknown values', () => {
    expect(resolveMode('nsm')).toBe('nsm');
    expect(resolveMode('dev')).toBe('dev');
    expect(resolveMode(undefined)).toBe('dev');
    expect(() => resolveMode('NSM')).toThrow(CosignerError);
    expect(() => resolveMode('')).toThrow(CosignerError);
  });
});
