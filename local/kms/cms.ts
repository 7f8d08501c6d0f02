// KMS stand-in only: builds `CiphertextForRecipient` the way KMS shapes it (see
// ../shared/vectors/kms-cms/): BER with indefinite lengths on the outer structures, one
// KeyTransRecipientInfo v2 with a 32-byte subjectKeyIdentifier, RSAES-OAEP-SHA256 with explicit
// SHA-256/MGF1-SHA-256 parameters, AES-256-CBC content in a constructed OCTET STRING.
import { constants, createCipheriv, createHash, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

function derLen(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Buffer.from([0x80 | out.length, ...out]);
}

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLen(body.length), body]);
}

/** Indefinite-length constructed element: tag 0x80 … 00 00. */
function indef(tag: number, ...parts: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([tag, 0x80]), ...parts, Buffer.from([0, 0])]);
}

const OID = {
  envelopedData: Buffer.from('06092a864886f70d010703', 'hex'),
  data: Buffer.from('06092a864886f70d010701', 'hex'),
  rsaesOaep: Buffer.from('06092a864886f70d010107', 'hex'),
  aes256Cbc: Buffer.from('060960864801650304012a', 'hex'),
};
const OAEP_PARAMS = Buffer.from(
  '302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500',
  'hex',
);

/** Options for {@link buildEnvelope}, mostly so tests can produce deliberately wrong shapes. */
export interface BuildEnvelopeOptions {
  /** Split the encrypted content into chunks of this size (constructed OCTET STRING); default one chunk. */
  readonly chunkSize?: number;
  /** Emit the content as a primitive [0] instead (the second KMS shape). */
  readonly primitiveContent?: boolean;
}

/**
 * Encrypts `plaintext` to `recipientPublicKey` (RSA-2048 SPKI) as KMS does for a Recipient.
 */
export function buildEnvelope(plaintext: Uint8Array, recipientPublicKey: KeyObject, opts: BuildEnvelopeOptions = {}): Buffer {
  const cek = randomBytes(32);
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', cek, iv);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  const ek = publicEncrypt({ key: recipientPublicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  cek.fill(0);
  const spki = recipientPublicKey.export({ type: 'spki', format: 'der' });
  const ski = createHash('sha256').update(spki).digest();

  const ktri = tlv(
    0x30,
    Buffer.from([0x02, 0x01, 0x02]),
    tlv(0x80, ski),
    tlv(0x30, OID.rsaesOaep, OAEP_PARAMS),
    tlv(0x04, ek),
  );
  let content: Buffer;
  if (opts.primitiveContent) {
    content = tlv(0x80, ct);
  } else {
    const size = opts.chunkSize ?? ct.length;
    const chunks: Buffer[] = [];
    for (let i = 0; i < ct.length; i += size) chunks.push(tlv(0x04, ct.subarray(i, i + size)));
    content = indef(0xa0, ...chunks);
  }
  const eci = indef(0x30, OID.data, tlv(0x30, OID.aes256Cbc, tlv(0x04, iv)), content);
  const ed = indef(0x30, Buffer.from([0x02, 0x01, 0x02]), tlv(0x31, ktri), eci);
  return indef(0x30, OID.envelopedData, indef(0xa0, ed));
}
