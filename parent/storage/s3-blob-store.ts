// Runs on the parent. BlobStore over S3, so that losing the instance does not lose the sealed
// blobs (they are sealed under secrets.key, which KMS releases only to the measured image; the
// bucket holds nothing readable). Layout: every committed generation is its own object
// `<prefix>/<name>/<20-digit generation>`, framed like the file store (blob-file.ts: generation +
// CRC'd header), written with `If-None-Match: *`. That conditional write is the real guard: two
// instances racing for generation N+1 cannot both create its key, so one gets ERR_GENERATION_CONFLICT.
// `get` lists `<prefix>/<name>/` and returns the newest. Credentials are the instance role's
// (CredentialSource), refreshed by the SDK through the provider below.
import { randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { CosignerError } from '../../proto/errors.ts';
import type { BlobStore, CredentialSource, StoredBlob } from '../../proto/ports.ts';
import { decodeBlobFile, encodeBlobFile, HEADER_BYTES } from './blob-file.ts';
import { MAX_BLOB_BYTES, validateBlobName } from './file-blob-store.ts';

export interface S3BlobStoreOptions {
  readonly bucket: string;
  /** Key prefix without a trailing slash, e.g. `cosigner/prod`. */
  readonly prefix: string;
  readonly region: string;
  /** Local mode only: the S3 stand-in's URL (path-style addressing). */
  readonly endpoint?: string;
  /** Keep the newest N generations of each blob; older ones are deleted after a write. 0 = keep all. */
  readonly retain?: number;
  readonly credentials: CredentialSource;
  /** Tests: a client to use instead of building one. */
  readonly client?: S3Client;
}

const GEN_DIGITS = 20;
const GEN_RE = /^\d{20}$/;

const statusOf = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const codeOf = (err: unknown): string => (err instanceof S3ServiceException ? err.name : ((err as Error | null)?.name ?? 'Error'));

function storageErr(err: unknown, what: string, name: string): CosignerError {
  if (err instanceof CosignerError) return err;
  return new CosignerError('ERR_STORAGE', `S3 error while ${what} ${name}: ${codeOf(err)}`, { cause: err, details: { name, s3: codeOf(err).slice(0, 64) } });
}

function unusable(bucket: string, why: string, cause?: unknown): CosignerError {
  return new CosignerError('ERR_BUCKET_UNUSABLE', `S3 bucket ${bucket} ${why}`, { details: { bucket }, ...(cause !== undefined ? { cause } : {}) });
}

/** The S3 client the store (and the lease) use: instance-role credentials, checksums only when required. */
export function createS3Client(o: { region: string; endpoint?: string; credentials: CredentialSource }): S3Client {
  return new S3Client({
    region: o.region,
    // The stand-in and real S3 both work with plain signed bodies; WHEN_REQUIRED keeps the SDK from
    // sending aws-chunked bodies with checksum trailers, which the stand-in does not decode.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(o.endpoint !== undefined ? { endpoint: o.endpoint, forcePathStyle: true } : {}),
    credentials: async () => {
      const c = await o.credentials.get();
      return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}), ...(c.expiration ? { expiration: c.expiration } : {}) };
    },
  });
}

/**
 * BlobStore over an S3 bucket. `open` first checks the bucket is usable (exists, versioned, writable).
 *
 * @example
 * const store = await S3BlobStore.open({ bucket, prefix: 'cosigner', region, credentials });
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly retain: number;

  private constructor(private readonly opts: S3BlobStoreOptions) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) throw new CosignerError('ERR_CONFIG_INVALID', 'invalid S3 bucket name', { details: { field: 'storage.bucket' } });
    if (!/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/.test(opts.prefix) || opts.prefix.length > 200) {
      throw new CosignerError('ERR_CONFIG_INVALID', 'invalid S3 prefix (segments of safe characters joined by /, no leading or trailing slash)', { details: { field: 'storage.prefix' } });
    }
    this.client = opts.client ?? createS3Client(opts);
    this.retain = Math.max(0, Math.min(opts.retain ?? 0, 1_000_000));
  }

  /** Opens the store after checking the bucket; ERR_BUCKET_UNUSABLE when it is missing, unversioned or not writable. */
  static async open(opts: S3BlobStoreOptions): Promise<S3BlobStore> {
    const s = new S3BlobStore(opts);
    await s.checkBucket();
    return s;
  }

  /** Store-less construction for tests that exercise the bucket check themselves. */
  static unchecked(opts: S3BlobStoreOptions): S3BlobStore {
    return new S3BlobStore(opts);
  }

  async checkBucket(): Promise<void> {
    const { bucket, prefix } = this.opts;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const st = statusOf(err);
      if (st === 404) throw unusable(bucket, 'does not exist', err);
      if (st === 403) throw unusable(bucket, 'is not accessible to the instance role (403)', err);
      throw storageErr(err, 'checking bucket', bucket);
    }
    let status: string | undefined;
    try {
      status = (await this.client.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status;
    } catch (err) {
      if (statusOf(err) === 403) throw unusable(bucket, 'versioning state cannot be read by the instance role (403)', err);
      throw storageErr(err, 'checking versioning of', bucket);
    }
    if (status !== 'Enabled') throw unusable(bucket, `does not have versioning enabled (status: ${status ?? 'never enabled'})`);
    // A marker under the prefix proves the role may write and delete where the blobs will live.
    const marker = `${prefix}/.probe-${randomBytes(8).toString('hex')}`;
    try {
      await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: marker, Body: new Uint8Array(0), IfNoneMatch: '*' }));
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: marker }));
    } catch (err) {
      const st = statusOf(err);
      if (st === 403 || st === 404 || st === 501) throw unusable(bucket, `is not writable under ${prefix}/ (${codeOf(err)})`, err);
      throw storageErr(err, 'probing a write to', bucket);
    }
  }

  private key(name: string, generation: bigint): string {
    return `${this.opts.prefix}/${name}/${generation.toString().padStart(GEN_DIGITS, '0')}`;
  }

  /** Every stored generation of `name`, ascending. */
  private async generations(name: string): Promise<bigint[]> {
    const prefix = `${this.opts.prefix}/${name}/`;
    const out: bigint[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of r.Contents ?? []) {
        const rest = o.Key?.slice(prefix.length) ?? '';
        if (GEN_RE.test(rest)) out.push(BigInt(rest));
      }
      if (!r.IsTruncated || !r.NextContinuationToken) return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      token = r.NextContinuationToken;
    }
    throw new CosignerError('ERR_STORAGE', `too many generations of ${name} to list`, { details: { name } });
  }

  async get(name: string): Promise<StoredBlob | null> {
    validateBlobName(name);
    try {
      // A concurrent retention delete can remove the newest-but-one we listed; one re-list covers it.
      for (let attempt = 0; ; attempt++) {
        const newest = (await this.generations(name)).at(-1);
        if (newest === undefined) return null;
        const blob = await this.read(name, newest);
        if (blob) return blob;
        if (attempt >= 2) throw new CosignerError('ERR_STORAGE', `generation ${newest} of ${name} vanished while reading`, { details: { name } });
      }
    } catch (err) {
      throw storageErr(err, 'reading', name);
    }
  }

  private async read(name: string, generation: bigint): Promise<StoredBlob | null> {
    let bytes: Uint8Array;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(name, generation) }));
      if ((r.ContentLength ?? 0) > MAX_BLOB_BYTES + HEADER_BYTES) throw new CosignerError('ERR_STORAGE', `stored blob ${name} is too large`, { details: { name } });
      bytes = await r.Body!.transformToByteArray();
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    if (bytes.length > MAX_BLOB_BYTES + HEADER_BYTES) throw new CosignerError('ERR_STORAGE', `stored blob ${name} is too large`, { details: { name } });
    const decoded = decodeBlobFile(name, Buffer.from(bytes));
    // The header must name the generation its key does: a copied or misplaced object is not that generation.
    if (decoded.generation !== generation) throw new CosignerError('ERR_STORAGE', `stored blob ${name} at ${generation} carries generation ${decoded.generation}`, { details: { name } });
    return decoded;
  }

  async put(name: string, data: Uint8Array, expectedGeneration: bigint): Promise<bigint> {
    validateBlobName(name);
    if (!(data instanceof Uint8Array)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'blob data must be bytes');
    if (data.length > MAX_BLOB_BYTES) throw new CosignerError('ERR_LIMIT_EXCEEDED', `blob ${name} larger than ${MAX_BLOB_BYTES} bytes`, { details: { name } });
    if (typeof expectedGeneration !== 'bigint' || expectedGeneration < 0n) throw new CosignerError('ERR_INVALID_ARGUMENT', 'expectedGeneration must be a non-negative bigint');
    const conflict = (have: bigint): CosignerError =>
      new CosignerError('ERR_GENERATION_CONFLICT', `blob ${name} is at generation ${have}, not ${expectedGeneration}`, { details: { name, current: have.toString(), expected: expectedGeneration.toString() } });
    const next = expectedGeneration + 1n;
    try {
      const have = (await this.generations(name)).at(-1) ?? 0n;
      if (have !== expectedGeneration) throw conflict(have);
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.opts.bucket, Key: this.key(name, next), Body: encodeBlobFile(next, data), IfNoneMatch: '*', ContentType: 'application/octet-stream' }));
      } catch (err) {
        // 412: another writer created this generation first; 409: a conflicting write was in flight.
        const st = statusOf(err);
        if (st === 412 || st === 409) throw conflict(next);
        throw err;
      }
      const after = await this.generations(name);
      const newest = after.at(-1) ?? 0n;
      // Only possible when retention deleted `next` from a racing writer's history: ours is then
      // shadowed by a newer generation and was never current, so the caller must re-read.
      if (newest > next) throw conflict(newest);
      await this.prune(name, after);
      return next;
    } catch (err) {
      throw storageErr(err, 'writing', name);
    }
  }

  /** Deletes generations older than the newest `retain`; best effort (a failed delete is retried by the next write). */
  private async prune(name: string, gens: readonly bigint[]): Promise<void> {
    if (this.retain === 0 || gens.length <= this.retain) return;
    for (const g of gens.slice(0, gens.length - this.retain)) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.key(name, g) })).catch(() => undefined);
    }
  }
}
