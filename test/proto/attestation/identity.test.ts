import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { checkIdentityUserData, identityUserData, parseIdentityUserData, spkiSha256 } from '../../../proto/attestation/identity.ts';

const der = (): Uint8Array => new Uint8Array(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }));
const fields = {
  coordinatorAuthPublicKeyDer: der(),
  callbackSigningPublicKeyDer: der(),
  coordinatorPublicKeyDer: der(),
  ownerKeyFingerprint: 'ab'.repeat(32),
  cosignerId: 'cs-1',
  protocolVersion: 1,
  buildId: 'b1',
};

describe('identity user_data v2', () => {
  it('round-trips every field through the strict parser', () => {
    const p = parseIdentityUserData(identityUserData({ ...fields, kmsPolicyChangeable: true }));
    expect(p).toEqual({
      version: 2,
      protocolVersion: 1,
      coordinatorAuthKeySha256: spkiSha256(fields.coordinatorAuthPublicKeyDer),
      callbackSigningKeySha256: spkiSha256(fields.callbackSigningPublicKeyDer),
      coordinatorKeySha256: spkiSha256(fields.coordinatorPublicKeyDer),
      ownerKeyFingerprint: 'ab'.repeat(32),
      cosignerId: 'cs-1',
      buildId: 'b1',
      kmsPolicyChangeable: true,
    });
    expect(parseIdentityUserData(identityUserData({ ...fields, ownerKeyFingerprint: undefined })).ownerKeyFingerprint).toBeNull();
    expect(parseIdentityUserData(identityUserData(fields)).kmsPolicyChangeable).toBeNull();
  });

  it('stays under the 512 bytes the NSM accepts at the largest bounds', () => {
    expect(identityUserData({ ...fields, cosignerId: 'x'.repeat(128), buildId: 'y'.repeat(200) }).length).toBeLessThanOrEqual(512);
  });

  it('refuses other versions, flags, trailing bytes and truncation', () => {
    const ud = identityUserData(fields);
    const mutate = (f: (b: Uint8Array) => Uint8Array): Uint8Array => f(Uint8Array.from(ud));
    for (const bad of [
      mutate((b) => ((b[4] = 1), b)),
      mutate((b) => ((b[9] = 0x80), b)),
      mutate((b) => ((b[0] = 0x41), b)),
      Uint8Array.from([...ud, 0]),
      ud.subarray(0, ud.length - 1),
      null,
    ]) {
      expect(() => parseIdentityUserData(bad)).toThrow(expect.objectContaining({ code: 'ERR_ATTESTATION_USER_DATA' }));
    }
  });

  it('each field changes the bytes; the check compares all of them', () => {
    const base = identityUserData(fields);
    expect(() => checkIdentityUserData(base, fields)).not.toThrow();
    for (const v of [{ ...fields, cosignerId: 'cs-2' }, { ...fields, buildId: 'b2' }, { ...fields, coordinatorAuthPublicKeyDer: der() }, { ...fields, ownerKeyFingerprint: 'cd'.repeat(32) }, { ...fields, kmsPolicyChangeable: false }]) {
      expect(() => checkIdentityUserData(identityUserData(v), fields)).toThrow(CosignerError);
    }
  });

  it('refuses out-of-range input when encoding', () => {
    expect(() => identityUserData({ ...fields, callbackSigningPublicKeyDer: new Uint8Array(0) })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, protocolVersion: 2 ** 32 })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, buildId: 'x'.repeat(201) })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, cosignerId: 'a b' })).toThrow(CosignerError);
    expect(() => identityUserData({ ...fields, ownerKeyFingerprint: 'AB'.repeat(32) })).toThrow(CosignerError);
  });
});
