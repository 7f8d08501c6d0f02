// Both sides. The co-signer's identity, carried in an attestation document's user_data, so whoever
// checks a document (the coordinator at every hello and pairing, an operator, the customer's
// Callback Handler team) learns, under the NSM's signature, every key this co-signer uses towards
// the outside and which build runs it: a process outside an enclave cannot claim any of them.
//
// user_data (version 2) is the encoding itself, not a hash of it, so a verifier can read the fields:
//   "NCID" ‖ u8(2) ‖ u32be(protocolVersion) ‖ u8(flags)
//   ‖ SHA-256(coordinator auth key SPKI) ‖ SHA-256(callback signing key SPKI)
//   ‖ SHA-256(coordinator public key SPKI sealed at setup) ‖ owner key fingerprint (SHA-256 of SPKI)
//   ‖ u8(len) ‖ cosignerId ‖ u8(len) ‖ buildId
// flags: bit 0 the KMS key policy was checked, bit 1 it is changeable (some principal may still
// change the policy or add grants), bit 2 an owner key is sealed (else its 32 bytes are zero). Every
// field has a fixed size or a length prefix, so the encoding is injective; the parser refuses any
// other version, unknown flag, trailing byte or out-of-range length. At most 4+1+4+1+128+2+128+200
// = 468 bytes, under the 512 the NSM accepts for user_data.
import { createHash } from 'node:crypto';
import { CosignerError } from '../errors.ts';
import { equalBytes } from './document.ts';

/** Magic prefix of the encoding. */
export const IDENTITY_MAGIC = 'NCID';
/** The only version this code writes and reads. */
export const IDENTITY_VERSION = 2;
/** Bound on a public key DER given to {@link identityUserData}. */
export const MAX_IDENTITY_KEY_BYTES = 2048;
/** Bound on the co-signer id. */
export const MAX_COSIGNER_ID_BYTES = 128;
/** Bound on the build id. */
export const MAX_BUILD_ID_BYTES = 200;

const FLAG_KMS_CHECKED = 1;
const FLAG_KMS_CHANGEABLE = 2;
const FLAG_OWNER = 4;
const HEX32 = /^[0-9a-f]{64}$/;

/** What the enclave binds (keys as SPKI DER, as it holds them). */
export interface IdentityFields {
  /** Ed25519 key that authenticates this co-signer to the coordinator (hello's authPublicKey). */
  readonly coordinatorAuthPublicKeyDer: Uint8Array;
  /** RSA key that signs Callback Handler requests. */
  readonly callbackSigningPublicKeyDer: Uint8Array;
  /** The coordinator's public key fixed at setup. */
  readonly coordinatorPublicKeyDer: Uint8Array;
  /** `ownerKeyFingerprint` of the sealed owner key; undefined for a DB sealed before owner keys. */
  readonly ownerKeyFingerprint: string | undefined;
  readonly cosignerId: string;
  /** Wire protocol version (unsigned 32-bit). */
  readonly protocolVersion: number;
  /** Build id of the enclave bundle (enclave/services/build-id.ts). */
  readonly buildId: string;
  /** Whether some principal may still change the KMS key policy; undefined before it was checked. */
  readonly kmsPolicyChangeable?: boolean | undefined;
}

/** What a verifier reads back: keys as SHA-256 hex of their SPKI DER. */
export interface ParsedIdentity {
  readonly version: 2;
  readonly protocolVersion: number;
  readonly coordinatorAuthKeySha256: string;
  readonly callbackSigningKeySha256: string;
  readonly coordinatorKeySha256: string;
  readonly ownerKeyFingerprint: string | null;
  readonly cosignerId: string;
  readonly buildId: string;
  /** null: the KMS key policy had not been checked when the document was made. */
  readonly kmsPolicyChangeable: boolean | null;
}

function bad(message: string): never {
  throw new CosignerError('ERR_INVALID_ARGUMENT', message);
}

function keyDigest(der: Uint8Array, name: string): Buffer {
  if (!(der instanceof Uint8Array) || der.length === 0 || der.length > MAX_IDENTITY_KEY_BYTES) bad(`${name} DER must be 1..${MAX_IDENTITY_KEY_BYTES} bytes`);
  return createHash('sha256').update(der).digest();
}

function text(value: string, name: string, max: number, re: RegExp): Buffer {
  if (typeof value !== 'string' || !re.test(value)) bad(`${name} has characters outside its alphabet`);
  const b = Buffer.from(value, 'utf8');
  if (b.length === 0 || b.length > max) bad(`${name} must be 1..${max} bytes`);
  return Buffer.concat([Uint8Array.of(b.length), b]);
}

const COSIGNER_ID_RE = /^[A-Za-z0-9._:-]+$/;
const BUILD_ID_RE = /^[\x21-\x7e]+$/;

/**
 * The user_data an enclave asks the NSM to put in its documents (at most 468 bytes).
 *
 * @example
 * attestor.attest({ nonce, userData: identityUserData({ coordinatorAuthPublicKeyDer, callbackSigningPublicKeyDer, coordinatorPublicKeyDer, ownerKeyFingerprint, cosignerId, protocolVersion: 1, buildId }) })
 */
export function identityUserData(f: IdentityFields): Uint8Array {
  if (!Number.isInteger(f.protocolVersion) || f.protocolVersion < 0 || f.protocolVersion > 0xffffffff) bad('protocolVersion must be a u32');
  if (f.kmsPolicyChangeable !== undefined && typeof f.kmsPolicyChangeable !== 'boolean') bad('kmsPolicyChangeable must be a boolean');
  if (f.ownerKeyFingerprint !== undefined && (typeof f.ownerKeyFingerprint !== 'string' || !HEX32.test(f.ownerKeyFingerprint))) bad('ownerKeyFingerprint must be 64 lowercase hex digits');
  const head = Buffer.alloc(10);
  head.write(IDENTITY_MAGIC, 0, 'latin1');
  head.writeUInt8(IDENTITY_VERSION, 4);
  head.writeUInt32BE(f.protocolVersion, 5);
  const flags = (f.kmsPolicyChangeable !== undefined ? FLAG_KMS_CHECKED : 0) | (f.kmsPolicyChangeable ? FLAG_KMS_CHANGEABLE : 0) | (f.ownerKeyFingerprint !== undefined ? FLAG_OWNER : 0);
  head.writeUInt8(flags, 9);
  return new Uint8Array(
    Buffer.concat([
      head,
      keyDigest(f.coordinatorAuthPublicKeyDer, 'coordinator auth key'),
      keyDigest(f.callbackSigningPublicKeyDer, 'callback signing key'),
      keyDigest(f.coordinatorPublicKeyDer, 'coordinator key'),
      f.ownerKeyFingerprint !== undefined ? Buffer.from(f.ownerKeyFingerprint, 'hex') : Buffer.alloc(32),
      text(f.cosignerId, 'cosignerId', MAX_COSIGNER_ID_BYTES, COSIGNER_ID_RE),
      text(f.buildId, 'buildId', MAX_BUILD_ID_BYTES, BUILD_ID_RE),
    ]),
  );
}

function udFail(message: string): never {
  throw new CosignerError('ERR_ATTESTATION_USER_DATA', message);
}

/** Strict parser: throws ERR_ATTESTATION_USER_DATA unless `userData` is a well-formed version-2 identity. */
export function parseIdentityUserData(userData: Uint8Array | null): ParsedIdentity {
  if (!(userData instanceof Uint8Array) || userData.length < 10 + 128 + 4 || userData.length > 512) udFail('user_data is not a co-signer identity');
  const b = Buffer.from(userData.buffer, userData.byteOffset, userData.length);
  if (b.toString('latin1', 0, 4) !== IDENTITY_MAGIC) udFail('user_data is not a co-signer identity');
  if (b.readUInt8(4) !== IDENTITY_VERSION) udFail('unsupported identity version');
  const flags = b.readUInt8(9);
  if (flags & ~(FLAG_KMS_CHECKED | FLAG_KMS_CHANGEABLE | FLAG_OWNER) || (flags & FLAG_KMS_CHANGEABLE && !(flags & FLAG_KMS_CHECKED))) udFail('unknown identity flags');
  const hex = (at: number): string => b.toString('hex', at, at + 32);
  const owner = b.subarray(106, 138);
  if (!(flags & FLAG_OWNER) && owner.some((x) => x !== 0)) udFail('owner fingerprint present without its flag');
  let at = 138;
  const field = (max: number, re: RegExp): string => {
    const len = b.readUInt8(at);
    if (len === 0 || len > max || at + 1 + len > b.length) udFail('identity field length out of range');
    const s = b.toString('utf8', at + 1, at + 1 + len);
    if (!re.test(s) || Buffer.byteLength(s) !== len) udFail('identity field has characters outside its alphabet');
    at += 1 + len;
    return s;
  };
  const cosignerId = field(MAX_COSIGNER_ID_BYTES, COSIGNER_ID_RE);
  if (at >= b.length) udFail('identity truncated');
  const buildId = field(MAX_BUILD_ID_BYTES, BUILD_ID_RE);
  if (at !== b.length) udFail('trailing bytes after the identity');
  return {
    version: 2,
    protocolVersion: b.readUInt32BE(5),
    coordinatorAuthKeySha256: hex(10),
    callbackSigningKeySha256: hex(42),
    coordinatorKeySha256: hex(74),
    ownerKeyFingerprint: flags & FLAG_OWNER ? hex(106) : null,
    cosignerId,
    buildId,
    kmsPolicyChangeable: flags & FLAG_KMS_CHECKED ? Boolean(flags & FLAG_KMS_CHANGEABLE) : null,
  };
}

/** SHA-256 hex of a public key's SPKI DER: how the identity names a key. */
export function spkiSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * Verifier side: throws ERR_ATTESTATION_USER_DATA unless `userData` (from a verified document) is
 * exactly the identity user_data of `expected`.
 */
export function checkIdentityUserData(userData: Uint8Array | null, expected: IdentityFields): void {
  parseIdentityUserData(userData);
  if (!userData || !equalBytes(userData, identityUserData(expected))) udFail('user_data does not bind the expected identity');
}
