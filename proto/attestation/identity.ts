// Both sides. Binds the cosigner's identity into an attestation document's user_data, so whoever
// checks a document (an operator, the customer's Callback Handler team) learns which key signs the
// Callback Handler requests and which build runs, with the NSM's signature over it.
//
// user_data = SHA-256( field(DOMAIN) ‖ field(spki DER) ‖ u32be(protocolVersion) ‖ field(UTF-8 buildId) )
// where field(x) = u32be(len(x)) ‖ x and DOMAIN = "nitro-cosigner/identity/v1". The length prefixes
// make the encoding injective: no two inputs share the bytes that are hashed. Once the enclave has
// checked its KMS key policy, `‖ field(u8 kmsPolicyChangeable)` follows (1: some principal may still
// change the policy or add grants): an appended length-prefixed field keeps the encoding injective.
import { createHash } from 'node:crypto';
import { CosignerError } from '../errors.ts';
import { equalBytes } from './document.ts';

/** Domain separation string, first field of the hashed encoding. */
export const IDENTITY_DOMAIN = 'nitro-cosigner/identity/v1';
/** Bound on the public key DER. */
export const MAX_IDENTITY_KEY_BYTES = 2048;
/** Bound on the build id. */
export const MAX_BUILD_ID_BYTES = 256;

/** The identity bound into user_data. */
export interface IdentityFields {
  /** DER SubjectPublicKeyInfo of the key that signs Callback Handler requests. */
  readonly callbackSigningPublicKeyDer: Uint8Array;
  /** Wire protocol version (unsigned 32-bit). */
  readonly protocolVersion: number;
  /** Build id of the enclave bundle (enclave/services/build-id.ts). */
  readonly buildId: string;
  /**
   * Whether some principal may still change the KMS key policy (kms:PutKeyPolicy, kms:CreateGrant),
   * as the enclave read it (proto/kms/policy-admission.ts). Absent before the policy was checked.
   */
  readonly kmsPolicyChangeable?: boolean | undefined;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

/** The exact bytes hashed by {@link identityUserData} (exported for documentation tests). */
export function identityEncoding(f: IdentityFields): Uint8Array {
  const key = f.callbackSigningPublicKeyDer;
  if (!(key instanceof Uint8Array) || key.length === 0 || key.length > MAX_IDENTITY_KEY_BYTES) throw new CosignerError('ERR_INVALID_ARGUMENT', `public key DER must be 1..${MAX_IDENTITY_KEY_BYTES} bytes`);
  if (!Number.isInteger(f.protocolVersion) || f.protocolVersion < 0 || f.protocolVersion > 0xffffffff) throw new CosignerError('ERR_INVALID_ARGUMENT', 'protocolVersion must be a u32');
  const build = new TextEncoder().encode(f.buildId);
  if (typeof f.buildId !== 'string' || build.length === 0 || build.length > MAX_BUILD_ID_BYTES) throw new CosignerError('ERR_INVALID_ARGUMENT', `buildId must be 1..${MAX_BUILD_ID_BYTES} bytes of UTF-8`);
  const domain = new TextEncoder().encode(IDENTITY_DOMAIN);
  const parts = [u32(domain.length), domain, u32(key.length), key, u32(f.protocolVersion), u32(build.length), build];
  if (f.kmsPolicyChangeable !== undefined) {
    if (typeof f.kmsPolicyChangeable !== 'boolean') throw new CosignerError('ERR_INVALID_ARGUMENT', 'kmsPolicyChangeable must be a boolean');
    parts.push(u32(1), Uint8Array.of(f.kmsPolicyChangeable ? 1 : 0));
  }
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * The 32-byte user_data an enclave asks the NSM to put in its documents.
 *
 * @example
 * attestor.attest({ nonce, userData: identityUserData({ callbackSigningPublicKeyDer, protocolVersion: 1, buildId }) })
 */
export function identityUserData(f: IdentityFields): Uint8Array {
  return new Uint8Array(createHash('sha256').update(identityEncoding(f)).digest());
}

/**
 * Verifier side: throws ERR_ATTESTATION_USER_DATA unless `userData` (from a verified document) is
 * the identity user_data of `expected`.
 */
export function checkIdentityUserData(userData: Uint8Array | null, expected: IdentityFields): void {
  if (!userData || !equalBytes(userData, identityUserData(expected))) {
    throw new CosignerError('ERR_ATTESTATION_USER_DATA', 'user_data does not bind the expected identity');
  }
}
