// Runs in the enclave. The tag check the ASN.1 library does not do: @peculiar/asn1-schema matches
// elements by position and largely ignores the identifier byte (class, constructed bit, number), so
// an envelope with, say, a context tag where a SEQUENCE belongs, or an application-class INTEGER,
// still decoded and opened while OpenSSL refused it. Here every structural position of a
// CiphertextForRecipient must carry exactly the identifier byte RFC 5652 gives it, before the
// library sees the bytes.
import { CosignerError } from '../../proto/errors.ts';
import type { BerNode } from './ber.ts';

// Identifier bytes (single-byte tags): universal class unless noted.
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
const OID = 0x06;
const SEQUENCE = 0x30;
const SET = 0x31;
/** [0] context-specific, primitive: IMPLICIT OCTET STRING (subjectKeyIdentifier, encryptedContent). */
const CTX0_PRIMITIVE = 0x80;
/** [0] context-specific, constructed: EXPLICIT content, or IMPLICIT OCTET STRING in chunks. */
const CTX0_CONSTRUCTED = 0xa0;

function fail(why: string): never {
  throw new CosignerError('ERR_CMS_MALFORMED', `CiphertextForRecipient rejected: ${why}`);
}

/** Checks `node`'s identifier byte and, for a constructed one, its exact number of children. */
function expectTag(node: BerNode | undefined, tag: number, what: string, children?: number): BerNode {
  if (!node || node.tag !== tag) fail(`${what}: expected tag 0x${tag.toString(16)}, got ${node ? `0x${node.tag.toString(16)}` : 'nothing'}`);
  if (children !== undefined && node.children?.length !== children) fail(`${what}: expected ${children} elements`);
  return node;
}

function kids(node: BerNode): readonly BerNode[] {
  return node.children ?? [];
}

/**
 * Throws ERR_CMS_MALFORMED unless `root` has the exact tag layout of a KMS CiphertextForRecipient:
 *
 *   SEQUENCE { OID, [0]c { SEQUENCE {                        -- ContentInfo, EnvelopedData
 *     INTEGER,                                               -- version
 *     SET { SEQUENCE { INTEGER, [0]p, SEQUENCE { OID, SEQUENCE }, OCTET STRING } },  -- one ktri
 *     SEQUENCE { OID, SEQUENCE { OID, OCTET STRING }, [0]p | [0]c { OCTET STRING… } } } } }
 *
 * The one choice BER leaves open that KMS uses is the encrypted content: primitive [0], or
 * constructed [0] whose chunks are all primitive OCTET STRINGs. Other alternatives (a constructed
 * subjectKeyIdentifier, IV or encrypted key) KMS does not emit, so they are refused. The OAEP
 * parameters' inner tags are covered by the byte-exact comparison in open-envelope.ts.
 */
export function assertEnvelopeShape(root: BerNode): void {
  const ci = expectTag(root, SEQUENCE, 'ContentInfo', 2);
  expectTag(kids(ci)[0], OID, 'ContentInfo contentType');
  const wrapper = expectTag(kids(ci)[1], CTX0_CONSTRUCTED, 'ContentInfo content', 1);
  // Exactly three: originatorInfo [0] and unprotectedAttrs [1] are not part of KMS's shape.
  const ed = expectTag(kids(wrapper)[0], SEQUENCE, 'EnvelopedData', 3);
  const [version, recipients, eci] = kids(ed);
  expectTag(version, INTEGER, 'EnvelopedData version');
  const set = expectTag(recipients, SET, 'recipientInfos', 1);
  const ktri = expectTag(kids(set)[0], SEQUENCE, 'KeyTransRecipientInfo', 4);
  const [ktriVersion, rid, keyAlg, encryptedKey] = kids(ktri);
  expectTag(ktriVersion, INTEGER, 'KeyTransRecipientInfo version');
  expectTag(rid, CTX0_PRIMITIVE, 'subjectKeyIdentifier');
  const alg = expectTag(keyAlg, SEQUENCE, 'keyEncryptionAlgorithm', 2);
  expectTag(kids(alg)[0], OID, 'keyEncryptionAlgorithm OID');
  expectTag(kids(alg)[1], SEQUENCE, 'RSAES-OAEP-params');
  expectTag(encryptedKey, OCTET_STRING, 'encryptedKey');

  const info = expectTag(eci, SEQUENCE, 'EncryptedContentInfo', 3);
  const [contentType, contentAlg, content] = kids(info);
  expectTag(contentType, OID, 'EncryptedContentInfo contentType');
  const calg = expectTag(contentAlg, SEQUENCE, 'contentEncryptionAlgorithm', 2);
  expectTag(kids(calg)[0], OID, 'contentEncryptionAlgorithm OID');
  expectTag(kids(calg)[1], OCTET_STRING, 'AES-CBC IV');
  if (content?.tag === CTX0_PRIMITIVE) return;
  const chunks = expectTag(content, CTX0_CONSTRUCTED, 'encryptedContent');
  if (kids(chunks).length === 0) fail('encryptedContent: no chunks');
  for (const chunk of kids(chunks)) expectTag(chunk, OCTET_STRING, 'encryptedContent chunk');
}
