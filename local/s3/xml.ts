// S3 stand-in only: S3's error type and the XML bodies the REST protocol answers with, shaped as the
// @aws-sdk/client-s3 deserialisers read them (namespace, element names, ISO-8601 dates).
import type { ObjectMeta } from './object-store.ts';

/** An S3 error: `code` is S3's error code (`NoSuchBucket`, `PreconditionFailed`, …). */
export class S3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';

export const xmlEscape = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);

export function errorXml(err: S3Error, resource: string, requestId: string): string {
  return `${HEAD}<Error><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message><Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`;
}

export function versioningXml(status: 'Enabled' | 'Suspended' | null): string {
  return status ? `${HEAD}<VersioningConfiguration xmlns="${NS}"><Status>${status}</Status></VersioningConfiguration>` : `${HEAD}<VersioningConfiguration xmlns="${NS}"/>`;
}

/** The `<Status>` of a PutBucketVersioning body; anything else is MalformedXML. */
export function parseVersioningBody(body: string): 'Enabled' | 'Suspended' {
  const m = /<Status>\s*(Enabled|Suspended)\s*<\/Status>/.exec(body);
  if (!m) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema', 400);
  return m[1] as 'Enabled' | 'Suspended';
}

export function listV2Xml(o: {
  bucket: string;
  prefix: string;
  maxKeys: number;
  items: readonly ObjectMeta[];
  truncated: boolean;
  continuationToken?: string;
  nextToken?: string;
}): string {
  const contents = o.items
    .map((i) => `<Contents><Key>${xmlEscape(i.key)}</Key><LastModified>${i.lastModified}</LastModified><ETag>${xmlEscape(i.etag)}</ETag><Size>${i.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`)
    .join('');
  return (
    `${HEAD}<ListBucketResult xmlns="${NS}"><Name>${xmlEscape(o.bucket)}</Name><Prefix>${xmlEscape(o.prefix)}</Prefix>` +
    `<KeyCount>${o.items.length}</KeyCount><MaxKeys>${o.maxKeys}</MaxKeys><IsTruncated>${o.truncated}</IsTruncated>` +
    (o.continuationToken !== undefined ? `<ContinuationToken>${xmlEscape(o.continuationToken)}</ContinuationToken>` : '') +
    (o.nextToken !== undefined ? `<NextContinuationToken>${xmlEscape(o.nextToken)}</NextContinuationToken>` : '') +
    `${contents}</ListBucketResult>`
  );
}
