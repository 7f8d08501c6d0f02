// S3 stand-in (local stack and tests only): a loopback HTTP(S) server speaking the S3 REST protocol,
// path-style (`/<bucket>/<key>`), well enough that the unmodified @aws-sdk/client-s3 works against
// it with an endpoint override and `forcePathStyle`. SigV4 is checked on every request
// (local/kms/sigv4.ts), conditional writes (`If-None-Match: *`, `If-Match: <etag>`) are honoured
// under a per-bucket lock, and objects persist atomically under `dir` (object-store.ts). See
// README.md beside this file for what it does not do.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SigV4Error, verifySigV4, type PrincipalLookup, type SigV4Principal } from '../kms/sigv4.ts';
import { ObjectStore } from './object-store.ts';
import { S3Error, errorXml, listV2Xml, parseVersioningBody, versioningXml } from './xml.ts';

export interface S3StandinOptions {
  /** Where buckets and objects persist. Restarting on the same dir keeps them. */
  readonly dir: string;
  /** accessKeyId → secret and ARN, or a lookup (e.g. the IMDS stand-in's issued credentials). */
  readonly principals: Readonly<Record<string, SigV4Principal>> | PrincipalLookup;
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  readonly port?: number;
  readonly host?: string;
  readonly region?: string;
  /** Largest request body accepted (default 32 MiB); larger is 400 EntityTooLarge before reading it. */
  readonly maxBodyBytes?: number;
  readonly now?: () => number;
  /** Test hook: bytes of the current request body received so far (the SIGKILL-mid-upload test). */
  readonly onBodyProgress?: (bytes: number) => void;
}

export interface S3Standin {
  readonly url: string;
  readonly port: number;
  readonly region: string;
  /** Counts of handled operations and errors, for tests. */
  readonly stats: Record<string, number>;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 32 * 1024 * 1024;

/** SigV4 failures in S3's vocabulary (S3 answers 403 for all of them). */
const SIGV4_TO_S3: Record<SigV4Error['type'], string> = {
  MissingAuthenticationTokenException: 'AccessDenied',
  IncompleteSignatureException: 'AuthorizationHeaderMalformed',
  InvalidSignatureException: 'SignatureDoesNotMatch',
  UnrecognizedClientException: 'InvalidAccessKeyId',
};

interface Req {
  readonly method: string;
  readonly bucket: string;
  readonly key: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}
interface Res {
  status: number;
  headers: Record<string, string>;
  body?: Buffer | string;
}

async function readBody(req: http.IncomingMessage, max: number, onProgress?: (n: number) => void): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) throw new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
    chunks.push(c as Buffer);
    onProgress?.(size);
  }
  return Buffer.concat(chunks);
}

function parseTarget(url: string): { bucket: string; key: string; query: URLSearchParams } {
  const u = new URL(url, 'http://stand-in');
  const path = u.pathname;
  const slash = path.indexOf('/', 1);
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new S3Error('InvalidURI', 'Could not parse the specified URI.', 400);
    }
  };
  return { bucket: decode(slash < 0 ? path.slice(1) : path.slice(1, slash)), key: slash < 0 ? '' : decode(path.slice(slash + 1)), query: u.searchParams };
}

async function bucketOp(store: ObjectStore, r: Req): Promise<[string, Res]> {
  if (r.method === 'PUT' && r.query.has('versioning')) {
    await store.setVersioning(r.bucket, parseVersioningBody(r.body.toString('utf8')));
    return ['PutBucketVersioning', { status: 200, headers: {} }];
  }
  if (r.method === 'GET' && r.query.has('versioning')) {
    return ['GetBucketVersioning', { status: 200, headers: { 'content-type': 'application/xml' }, body: versioningXml((await store.bucket(r.bucket)).versioning) }];
  }
  if (r.method === 'PUT' && [...r.query.keys()].every((k) => k === 'x-id')) {
    await store.createBucket(r.bucket);
    return ['CreateBucket', { status: 200, headers: { location: `/${r.bucket}` } }];
  }
  if (r.method === 'HEAD') {
    await store.bucket(r.bucket);
    return ['HeadBucket', { status: 200, headers: {} }];
  }
  if (r.method === 'GET' && r.query.get('list-type') === '2') {
    const prefix = r.query.get('prefix') ?? '';
    const maxKeys = Math.max(0, Math.min(Number(r.query.get('max-keys') ?? 1000) || 0, 1000));
    const token = r.query.get('continuation-token') ?? undefined;
    const startAfter = token !== undefined ? Buffer.from(token, 'base64url').toString('utf8') : (r.query.get('start-after') ?? '');
    const { items, truncated } = await store.list(r.bucket, prefix, startAfter, maxKeys);
    const last = items.at(-1)?.key;
    const nextToken = truncated && last !== undefined ? Buffer.from(last, 'utf8').toString('base64url') : undefined;
    const body = listV2Xml({ bucket: r.bucket, prefix, maxKeys, items, truncated, ...(token !== undefined ? { continuationToken: token } : {}), ...(nextToken !== undefined ? { nextToken } : {}) });
    return ['ListObjectsV2', { status: 200, headers: { 'content-type': 'application/xml' }, body }];
  }
  throw new S3Error('NotImplemented', 'A header or query you provided implies functionality that is not implemented.', 501);
}

async function objectOp(store: ObjectStore, r: Req): Promise<[string, Res]> {
  const one = (h: string): string | undefined => (typeof r.headers[h] === 'string' ? (r.headers[h] as string) : undefined);
  if (r.method === 'PUT') {
    if (one('x-amz-copy-source') !== undefined) throw new S3Error('NotImplemented', 'CopyObject is not implemented by the stand-in', 501);
    const ifNoneMatch = one('if-none-match');
    const ifMatch = one('if-match');
    const meta = await store.put(r.bucket, r.key, r.body, { ...(ifNoneMatch !== undefined ? { ifNoneMatch } : {}), ...(ifMatch !== undefined ? { ifMatch } : {}) });
    return ['PutObject', { status: 200, headers: { etag: meta.etag, ...(meta.versionId !== 'null' ? { 'x-amz-version-id': meta.versionId } : {}) } }];
  }
  if (r.method === 'GET' || r.method === 'HEAD') {
    const o = await store.get(r.bucket, r.key, r.query.get('versionId') ?? undefined);
    if (!o) throw new S3Error('NoSuchKey', 'The specified key does not exist.', 404);
    const headers = {
      etag: o.meta.etag,
      'last-modified': new Date(o.meta.lastModified).toUTCString(),
      'content-type': 'application/octet-stream',
      'content-length': String(o.data.length),
      ...(o.meta.versionId !== 'null' ? { 'x-amz-version-id': o.meta.versionId } : {}),
    };
    return r.method === 'GET' ? ['GetObject', { status: 200, headers, body: o.data }] : ['HeadObject', { status: 200, headers }];
  }
  if (r.method === 'DELETE') {
    const marker = await store.delete(r.bucket, r.key);
    return ['DeleteObject', { status: 204, headers: marker ? { 'x-amz-delete-marker': 'true', 'x-amz-version-id': marker } : {} }];
  }
  throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
}

/**
 * Starts the stand-in on loopback.
 *
 * @example
 * const s3 = await startS3Standin({ dir, principals: { AKID: { secretAccessKey, arn } } });
 * const client = new S3Client({ endpoint: s3.url, forcePathStyle: true, region: s3.region, credentials });
 */
export async function startS3Standin(opts: S3StandinOptions): Promise<S3Standin> {
  const region = opts.region ?? 'us-east-1';
  const now = opts.now ?? Date.now;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const store = new ObjectStore(opts.dir);
  const principals = opts.principals;
  const lookup: PrincipalLookup =
    typeof principals === 'function' ? principals : (id) => (Object.prototype.hasOwnProperty.call(principals, id) ? principals[id] : undefined);
  const stats: Record<string, number> = {};

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const rawUrl = req.url ?? '/';
    try {
      const body = await readBody(req, maxBody, opts.onBodyProgress);
      const method = req.method ?? 'GET';
      try {
        verifySigV4({ method, path: rawUrl, headers: req.headers, body }, { service: 's3', region, lookup, now: now() });
      } catch (err) {
        if (err instanceof SigV4Error) throw new S3Error(SIGV4_TO_S3[err.type], err.message, 403);
        throw err;
      }
      const { bucket, key, query } = parseTarget(rawUrl);
      if (bucket === '') throw new S3Error('NotImplemented', 'ListBuckets is not implemented by the stand-in', 501);
      const r: Req = { method, bucket, key, query, headers: req.headers, body };
      const [op, out] = key === '' ? await bucketOp(store, r) : await objectOp(store, r);
      stats[op] = (stats[op] ?? 0) + 1;
      res.writeHead(out.status, { 'x-amz-request-id': requestId, ...(out.body === undefined && out.headers['content-length'] === undefined ? { 'content-length': '0' } : {}), ...out.headers });
      res.end(method === 'HEAD' ? undefined : out.body);
    } catch (err) {
      const e = err instanceof S3Error ? err : new S3Error('InternalError', 'We encountered an internal error. Please try again.', 500);
      stats[`error:${e.code}`] = (stats[`error:${e.code}`] ?? 0) + 1;
      if (res.headersSent || res.destroyed) return; // the client went away (a killed writer): nothing to answer
      const text = req.method === 'HEAD' ? '' : errorXml(e, rawUrl.split('?')[0] ?? '/', requestId);
      res.writeHead(e.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text), 'x-amz-request-id': requestId });
      res.end(text);
    }
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void handle(req, res);
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, listener) : http.createServer(listener);
  server.requestTimeout = 60_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = 64;
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') throw new Error('the S3 stand-in listens on loopback only');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    region,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
