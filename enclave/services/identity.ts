// Runs in the enclave. Creates the co-signer's identity keys at setup: the RSA-2048 key that signs
// Callback Handler requests (RS256, shown by `print-public-key`) and the Ed25519 key that
// authenticates this co-signer to the coordinator. Both are generated here and only ever leave the
// enclave sealed inside the secrets DB.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import type { CosignerIdentity, SecretsState } from '../vault/records.ts';
import type { IdentityFields } from '../../proto/attestation/identity.ts';
import { ownerKeyFingerprint } from '../../proto/coordinator/owner-approval.ts';
import { CosignerError } from '../../proto/errors.ts';

/** Fresh identity keys and a random co-signer id. */
export function createIdentity(): CosignerIdentity {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const ed = generateKeyPairSync('ed25519');
  return {
    cosignerId: randomUUID(),
    callbackSigningKeyPkcs8: rsa.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'),
    coordinatorAuthKeyPkcs8: ed.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'),
  };
}

/** The private key that signs Callback Handler requests. */
export function callbackSigningKey(identity: CosignerIdentity): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.from(identity.callbackSigningKeyPkcs8, 'hex'), format: 'der', type: 'pkcs8' });
  } catch (err) {
    // Never include the key material in the message.
    throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'the sealed callback signing key does not parse', { cause: err });
  }
}

/** PEM and DER of the public half of the callback signing key, with the SPKI SHA-256. */
export function callbackPublicKey(identity: CosignerIdentity): { pem: string; spkiDer: Uint8Array; spkiSha256: string } {
  const pub = createPublicKey(callbackSigningKey(identity));
  const spkiDer = new Uint8Array(pub.export({ format: 'der', type: 'spki' }));
  return {
    pem: pub.export({ format: 'pem', type: 'spki' }).toString(),
    spkiDer,
    spkiSha256: createHash('sha256').update(spkiDer).digest('hex'),
  };
}

/**
 * Every key this co-signer uses towards the outside, as its attested identity binds them
 * (proto/attestation/identity.ts): the caller adds the build id and the KMS policy flag.
 */
export function identityKeysOf(state: SecretsState): Omit<IdentityFields, 'protocolVersion' | 'buildId' | 'kmsPolicyChangeable'> {
  const der = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ format: 'der', type: 'spki' }));
  let auth: KeyObject;
  let coordinator: KeyObject;
  try {
    auth = createPublicKey(createPrivateKey({ key: Buffer.from(state.identity.coordinatorAuthKeyPkcs8, 'hex'), format: 'der', type: 'pkcs8' }));
    coordinator = createPublicKey(state.coordinator.publicKeyPem);
  } catch (err) {
    throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'a sealed identity key does not parse', { cause: err });
  }
  return {
    coordinatorAuthPublicKeyDer: der(auth),
    callbackSigningPublicKeyDer: callbackPublicKey(state.identity).spkiDer,
    coordinatorPublicKeyDer: der(coordinator),
    ownerKeyFingerprint: state.owner ? ownerKeyFingerprint(state.owner.publicKeyPem) : undefined,
    cosignerId: state.identity.cosignerId,
  };
}
