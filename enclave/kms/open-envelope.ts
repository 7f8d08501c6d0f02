// Runs in the enclave. Parses and opens the CMS EnvelopedData that KMS returns as
// `CiphertextForRecipient` when a request carries an attested `Recipient`: RSAES-OAEP-SHA256 wraps
// an AES-256-CBC content key (RFC 5652 §6, RFC 8017 §7.1). Parsing is strict: exactly the shape
// KMS produces, nothing else, so a parent that alters the structure, the algorithms or the wrapped
// key gets a typed error.
//
// What this file cannot detect: CBC has no integrity. Changing the IV changes the first plaintext
// block by the same bits; changing a ciphertext block garbles that block and flips bits of the next,
// and passes whenever the final padding still checks out. Such an envelope opens, silently, to
// different bytes. Callers therefore never trust the plaintext on its own: a secrets.key must be 32
// bytes, setup decrypts it twice through KMS and requires the same key (vault.ts confirmSecretsKey),
// and every later use goes through the sealed DB's AES-GCM, which refuses a DB under any other key.
import { constants, createDecipheriv, privateDecrypt, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, EnvelopedData } from '@peculiar/asn1-cms';
import { CosignerError } from '../../proto/errors.ts';
import { DEFAULT_BER_LIMITS, parseBer } from './ber.ts';
import { assertEnvelopeShape } from './cms-shape.ts';

/** Size limit for a whole CiphertextForRecipient. Real ones are well under 1 KiB. */
export const MAX_ENVELOPE_BYTES = 64 * 1024;

export const OID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
export const OID_DATA = '1.2.840.113549.1.7.1';
export const OID_RSAES_OAEP = '1.2.840.113549.1.1.7';
export const OID_AES256_CBC = '2.16.840.1.101.3.4.1.42';

// RSAES-OAEP-params as KMS encodes them: hash sha256 (NULL params), MGF1 with sha256, pSource
// absent (= empty label). Also accepted: the same with absent NULL parameters (RFC 4055 allows both).
const OAEP_PARAMS_ACCEPTED = [
  '302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500',
  '302ba00d300b0609608648016503040201a11a301806092a864886f70d010108300b0609608648016503040201',
];

/** The parts of a CiphertextForRecipient needed to open it. */
export interface ParsedEnvelope {
  /**
   * subjectKeyIdentifier of the recipient: 32 bytes from KMS, 20 from OpenSSL's default. Never used
   * (the enclave has exactly one recipient key per request) and, as in AWS's own parser, not checked.
   */
  readonly recipientKeyId: Uint8Array;
  /** RSAES-OAEP-SHA256 encryption of the content key, 256 bytes for RSA-2048. */
  readonly encryptedKey: Uint8Array;
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
}

function fail(why: string, cause?: unknown): never {
  throw new CosignerError('ERR_CMS_MALFORMED', `CiphertextForRecipient rejected: ${why}`, cause === undefined ? {} : { cause });
}

function hex(buf: ArrayBuffer | Uint8Array): string {
  return Buffer.from(buf instanceof Uint8Array ? buf : new Uint8Array(buf)).toString('hex');
}

/**
 * Strictly parses a KMS `CiphertextForRecipient` (BER ContentInfo → EnvelopedData v2 → one
 * KeyTransRecipientInfo v2 identified by subjectKeyIdentifier, RSAES-OAEP-SHA256, AES-256-CBC).
 * Throws ERR_CMS_MALFORMED for anything else: too large, any tag other than the one its position
 * takes (cms-shape.ts), wrong OIDs or versions, extra recipients,
 * originator info or attributes, missing content, content not a whole number of AES blocks.
 *
 * @example const { encryptedKey, iv, ciphertext } = parseEnvelope(resp.CiphertextForRecipient!)
 */
export function parseEnvelope(bytes: Uint8Array): ParsedEnvelope {
  if (!(bytes instanceof Uint8Array)) fail('not bytes');
  if (bytes.length > MAX_ENVELOPE_BYTES) fail(`larger than ${MAX_ENVELOPE_BYTES} bytes`);
  assertEnvelopeShape(parseBer(bytes, { ...DEFAULT_BER_LIMITS, maxBytes: MAX_ENVELOPE_BYTES }));
  let ci: ContentInfo;
  let ed: EnvelopedData;
  try {
    ci = AsnConvert.parse(bytes, ContentInfo);
  } catch (err) {
    fail('not a ContentInfo', err);
  }
  if (ci.contentType !== OID_ENVELOPED_DATA) fail('content type is not EnvelopedData');
  try {
    ed = AsnConvert.parse(ci.content, EnvelopedData);
  } catch (err) {
    fail('not an EnvelopedData', err);
  }
  if (ed.version !== 2) fail('EnvelopedData version is not 2');
  if (ed.originatorInfo !== undefined) fail('unexpected originatorInfo');
  if (ed.unprotectedAttrs !== undefined) fail('unexpected unprotectedAttrs');
  if (ed.recipientInfos.length !== 1) fail('expected exactly one recipient');
  const ktri = ed.recipientInfos[0]?.ktri;
  if (!ktri) fail('recipient is not a KeyTransRecipientInfo');
  if (ktri.version !== 2) fail('KeyTransRecipientInfo version is not 2');
  const ski = ktri.rid.subjectKeyIdentifier;
  if (!ski || ktri.rid.issuerAndSerialNumber !== undefined) fail('recipient not identified by subjectKeyIdentifier');
  const recipientKeyId = new Uint8Array(ski.buffer.slice(0));
  if (ktri.keyEncryptionAlgorithm.algorithm !== OID_RSAES_OAEP) fail('key encryption is not RSAES-OAEP');
  const params = ktri.keyEncryptionAlgorithm.parameters;
  if (!params || !OAEP_PARAMS_ACCEPTED.includes(hex(params))) fail('OAEP parameters are not SHA-256/MGF1-SHA-256/empty label');
  const encryptedKey = new Uint8Array(ktri.encryptedKey.buffer.slice(0));
  if (encryptedKey.length !== 256) fail('encrypted key is not 256 bytes (RSA-2048)');

  const eci = ed.encryptedContentInfo;
  if (eci.contentType !== OID_DATA) fail('encrypted content type is not data');
  if (eci.contentEncryptionAlgorithm.algorithm !== OID_AES256_CBC) fail('content encryption is not AES-256-CBC');
  const ivParam = eci.contentEncryptionAlgorithm.parameters;
  // Parameters are a DER OCTET STRING of 16 bytes: 04 10 <iv>.
  const ivBytes = ivParam ? new Uint8Array(ivParam) : null;
  if (!ivBytes || ivBytes.length !== 18 || ivBytes[0] !== 0x04 || ivBytes[1] !== 0x10) fail('IV is not a 16-byte OCTET STRING');
  const iv = ivBytes.slice(2);

  const content = eci.encryptedContent;
  if (!content) fail('no encrypted content');
  let ciphertext: Uint8Array;
  if (content.value !== undefined) {
    ciphertext = new Uint8Array(content.value.buffer.slice(0));
  } else if (content.constructedValue !== undefined) {
    if (content.constructedValue.length > 64) fail('too many content chunks');
    ciphertext = Buffer.concat(content.constructedValue.map((c) => new Uint8Array(c.buffer)));
  } else {
    fail('no encrypted content');
  }
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) fail('content is not a whole number of AES blocks');
  return { recipientKeyId, encryptedKey, iv, ciphertext };
}

/**
 * Opens a parsed envelope with the enclave's one-use RSA-2048 private key: RSAES-OAEP-SHA256
 * unwraps the content key, AES-256-CBC (PKCS#7 padding) decrypts the content. A wrong key, an
 * altered encrypted key or bad padding is ERR_CMS_MALFORMED with no detail that could serve as a
 * padding oracle; an altered IV or content block usually is not (see the top of this file) and must
 * be caught by the caller's own checks. The content key is zeroed after use.
 */
export function openEnvelope(envelope: Uint8Array | ParsedEnvelope, privateKey: KeyObject): Buffer {
  const parsed = envelope instanceof Uint8Array ? parseEnvelope(envelope) : envelope;
  let cek: Buffer | undefined;
  try {
    cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, parsed.encryptedKey);
    if (cek.length !== 32) fail('content key is not 32 bytes');
    const d = createDecipheriv('aes-256-cbc', cek, parsed.iv);
    return Buffer.concat([d.update(parsed.ciphertext), d.final()]);
  } catch (err) {
    if (err instanceof CosignerError) throw err;
    throw new CosignerError('ERR_CMS_MALFORMED', 'CiphertextForRecipient could not be opened with the recipient key');
  } finally {
    cek?.fill(0);
  }
}
