// KMS stand-in only: verifies the AWS Signature Version 4 on an incoming request, recomputing it
// from the secret key the stand-in was configured with (AWS's "Signature Version 4 signing process":
// canonical request → string to sign → HMAC chain). The stand-in rejects unsigned, badly signed,
// stale and wrong-scope requests exactly as KMS does, with KMS's error names.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface SigV4Principal {
  readonly secretAccessKey: string;
  readonly arn: string;
  /** When set, the request must carry this x-amz-security-token (temporary credentials). */
  readonly sessionToken?: string;
}

export type PrincipalLookup = (accessKeyId: string) => SigV4Principal | undefined;

/** A SigV4 failure, carrying the KMS exception name it maps to. */
export class SigV4Error extends Error {
  constructor(
    readonly type: 'MissingAuthenticationTokenException' | 'IncompleteSignatureException' | 'InvalidSignatureException' | 'UnrecognizedClientException',
    message: string,
  ) {
    super(message);
  }
}

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 15 * 60 * 1000;

const sha256hex = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const hmac = (k: Buffer | string, s: string): Buffer => createHmac('sha256', k).update(s).digest();

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function splitPath(path: string): [string, string] {
  const i = path.indexOf('?');
  return i < 0 ? [path || '/', ''] : [path.slice(0, i) || '/', path.slice(i + 1)];
}

/** RFC 3986 encoding as SigV4 wants it: encodeURIComponent leaves !'()* alone, SigV4 does not. */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The canonical query string: every parameter decoded and re-encoded, sorted by name then value
 * (KMS requests carry none; S3's carry subresources such as `versioning` and `list-type=2`).
 */
function canonicalQuery(raw: string): string {
  if (raw === '') return '';
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, '%20'));
    } catch {
      throw new SigV4Error('IncompleteSignatureException', 'malformed query string');
    }
  };
  const pairs = raw
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      return [rfc3986(decode(i < 0 ? p : p.slice(0, i))), rfc3986(decode(i < 0 ? '' : p.slice(i + 1)))] as const;
    });
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * Checks the request's SigV4 signature for `service` and `region`. Returns the caller's principal.
 * Throws SigV4Error (mapped by the server to a KMS error shape) when anything does not match.
 */
export function verifySigV4(
  req: { method: string; path: string; headers: IncomingHttpHeaders; body: Buffer },
  opts: { service: string; region: string; lookup: PrincipalLookup; now?: number },
): { accessKeyId: string; principal: SigV4Principal } {
  const auth = header(req.headers, 'authorization');
  if (!auth) throw new SigV4Error('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH_RE.exec(auth.trim());
  if (!m) throw new SigV4Error('IncompleteSignatureException', 'Authorization header is not a complete SigV4 header');
  const [, accessKeyId, date, region, service, signedHeadersStr, signature] = m as unknown as [string, string, string, string, string, string, string];
  const amzDate = header(req.headers, 'x-amz-date');
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) {
    throw new SigV4Error('IncompleteSignatureException', 'x-amz-date missing or inconsistent with the credential scope');
  }
  const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs((opts.now ?? Date.now()) - t) > MAX_SKEW_MS) throw new SigV4Error('InvalidSignatureException', 'Signature expired');
  if (service !== opts.service || region !== opts.region) throw new SigV4Error('InvalidSignatureException', 'Credential should be scoped to the correct service and region');
  const principal = opts.lookup(accessKeyId);
  if (!principal) throw new SigV4Error('UnrecognizedClientException', 'The security token included in the request is invalid.');
  const signedHeaders = signedHeadersStr.split(';');
  for (const required of ['host', 'x-amz-date']) {
    if (!signedHeaders.includes(required)) throw new SigV4Error('IncompleteSignatureException', `${required} must be signed`);
  }
  if (principal.sessionToken !== undefined) {
    if (header(req.headers, 'x-amz-security-token') !== principal.sessionToken || !signedHeaders.includes('x-amz-security-token')) {
      throw new SigV4Error('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
  }
  const canonicalHeaders = signedHeaders
    .map((h) => {
      const v = header(req.headers, h);
      if (v === undefined) throw new SigV4Error('IncompleteSignatureException', `signed header ${h} missing`);
      return `${h}:${v.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const payloadHash = header(req.headers, 'x-amz-content-sha256') ?? sha256hex(req.body);
  if (payloadHash !== sha256hex(req.body)) throw new SigV4Error('InvalidSignatureException', 'payload hash mismatch');
  const [rawPath, rawQuery] = splitPath(req.path);
  const canonicalRequest = [req.method, rawPath, canonicalQuery(rawQuery), canonicalHeaders, signedHeadersStr, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${principal.secretAccessKey}`, date), region), service), 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    throw new SigV4Error('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
  }
  return { accessKeyId, principal };
}
