import { describe, expect, it } from 'vitest';
import { checkDerivationPath, deriveKeyShare, derivedKeyId, formatDerivationPath, parseDerivationPath } from '../../../enclave/mpc/derivation.ts';
import { verifierPublicKey } from '../../../enclave/mpc/suites.ts';
import { runDkg } from './helpers.ts';
import type { KeyShareRecord } from '../../../enclave/vault/records.ts';

describe('derivation paths', () => {
  it('parses the handler-facing text form and prints it back the published way', () => {
    expect(parseDerivationPath('[ 44, 0, 0, 0, 0 ]')).toEqual([44, 0, 0, 0, 0]);
    expect(parseDerivationPath('[44,501,3,0,7]')).toEqual([44, 501, 3, 0, 7]);
    expect(parseDerivationPath('[ ]')).toEqual([]);
    expect(formatDerivationPath([44, 60, 0, 0, 0])).toBe('[ 44, 60, 0, 0, 0 ]');
    expect(formatDerivationPath([])).toBe('[ ]');
    expect(derivedKeyId('k', [44, 0, 1])).toBe('k/44/0/1');
    expect(derivedKeyId('k', [])).toBe('k');
  });

  it.each(['44,0', '[ 44, -1 ]', '[ 2147483648 ]', '[ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 ]', '[ 0x10 ]', 7])('refuses %s', (bad) => {
    expect(() => parseDerivationPath(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('refuses hardened, fractional and non-array paths', () => {
    for (const bad of [[0x80000000], [1.5], 'x', [Number.NaN]]) expect(() => checkDerivationPath(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('keys without a chain code (made before derivation existed)', () => {
  it('sign with the root key and refuse every other path', () => {
    const [{ chainCode: _c, ...a }] = runDkg('frost-ed25519', 2, [1, 2]) as [KeyShareRecord];
    const root = deriveKeyShare(a, []);
    expect(root.key).toBe(a);
    expect(Buffer.from(root.signingPublicKey).toString('hex')).toBe(Buffer.from(verifierPublicKey('frost-ed25519', Buffer.from(a.groupPublicKey, 'hex'))).toString('hex'));
    expect(() => deriveKeyShare(a, [44, 501, 0, 0, 0])).toThrow(expect.objectContaining({ code: 'ERR_DERIVATION_UNSUPPORTED' }));
  });
});
