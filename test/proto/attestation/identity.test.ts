import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { checkIdentityUserData, identityEncoding, identityUserData } from '../../../proto/attestation/identity.ts';

const key = Uint8Array.of(0x30, 0x03, 0x01, 0x02, 0x03);
const fields = { callbackSigningPublicKeyDer: key, protocolVersion: 1, buildId: 'b1' };

describe('identity user_data', () => {
  it('hashes the documented length-prefixed encoding (golden bytes)', () => {
    const enc = Buffer.from(identityEncoding(fields)).toString('hex');
    const domain = Buffer.from('nitro-cosigner/identity/v1').toString('hex');
    expect(enc).toBe(`0000001a${domain}00000005300301020300000001000000026231`);
    expect(identityUserData(fields)).toHaveLength(32);
  });

  it('appends the KMS key policy flag once the enclave has checked the policy (golden bytes)', () => {
    const without = Buffer.from(identityEncoding(fields)).toString('hex');
    expect(Buffer.from(identityEncoding({ ...fields, kmsPolicyChangeable: true })).toString('hex')).toBe(`${without}0000000101`);
    expect(Buffer.from(identityEncoding({ ...fields, kmsPolicyChangeable: false })).toString('hex')).toBe(`${without}0000000100`);
    expect(() => checkIdentityUserData(identityUserData({ ...fields, kmsPolicyChangeable: true }), { ...fields, kmsPolicyChangeable: false })).toThrow(CosignerError);
    expect(() => checkIdentityUserData(identityUserData({ ...fields, kmsPolicyChangeable: true }), fields)).toThrow(CosignerError);
  });

  it('changes with every field, and field boundaries cannot be shifted', () => {
    const base = Buffer.from(identityUserData(fields)).toString('hex');
    const variants = [
      { ...fields, callbackSigningPublicKeyDer: Uint8Array.of(0x30, 0x03, 0x01, 0x02, 0x04) },
      { ...fields, protocolVersion: 2 },
      { ...fields, buildId: 'b2' },
      // Moving a byte from the key into the build id must not collide.
      { ...fields, callbackSigningPublicKeyDer: key.subarray(0, 4), buildId: '\x03b1' },
    ];
    for (const v of variants) expect(Buffer.from(identityUserData(v)).toString('hex')).not.toBe(base);
  });

  it('the checker accepts the match and rejects anything else', () => {
    expect(() => checkIdentityUserData(identityUserData(fields), fields)).not.toThrow();
    for (const ud of [null, new Uint8Array(32), identityUserData({ ...fields, buildId: 'other' })]) {
      try {
        checkIdentityUserData(ud, fields);
        throw new Error('accepted');
      } catch (err) {
        expect((err as CosignerError).code).toBe('ERR_ATTESTATION_USER_DATA');
      }
    }
  });

  it('refuses out-of-range inputs', () => {
    expect(() => identityUserData({ ...fields, callbackSigningPublicKeyDer: new Uint8Array(0) })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, protocolVersion: -1 })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, protocolVersion: 2 ** 32 })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, buildId: '' })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, buildId: 'x'.repeat(257) })).toThrow(CosignerError);
  });
});
