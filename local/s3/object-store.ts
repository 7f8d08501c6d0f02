// S3 stand-in only (local stack and tests): buckets and objects on disk under one directory. Every
// object version is one file (a length-prefixed JSON header, then the bytes) replaced with
// writeFileAtomic (temp → fsync → rename → fsync dir), so a killed stand-in never leaves a half
// object. Conditional writes are decided and committed under a per-bucket lock, which is what makes
// `If-None-Match: *` a real compare-and-swap here, as it is in S3.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';
import { S3Error } from './xml.ts';

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Object file names are base64url(key); this keeps them under the 255-byte name limit. */
const MAX_KEY_BYTES = 180;

export interface ObjectMeta {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  readonly lastModified: string;
  /** "null" when the bucket is not versioned (S3's own spelling). */
  readonly versionId: string;
}

export interface BucketInfo {
  readonly created: string;
  readonly versioning: 'Enabled' | 'Suspended' | null;
}

export interface PutConditions {
  readonly ifNoneMatch?: string;
  readonly ifMatch?: string;
}

const keyFile = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');

function encodeObject(meta: ObjectMeta, data: Buffer): Buffer {
  const m = Buffer.from(JSON.stringify(meta), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(m.length);
  return Buffer.concat([len, m, data]);
}

function decodeObject(file: Buffer): { meta: ObjectMeta; data: Buffer } {
  const n = file.readUInt32BE(0);
  return { meta: JSON.parse(file.subarray(4, 4 + n).toString('utf8')) as ObjectMeta, data: file.subarray(4 + n) };
}

function validateKey(key: string): void {
  const n = Buffer.byteLength(key, 'utf8');
  if (n === 0) throw new S3Error('InvalidArgument', 'empty key', 400);
  if (n > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', `the stand-in accepts keys up to ${MAX_KEY_BYTES} bytes`, 400);
}

/** Buckets under `dir`: `<bucket>/bucket.json`, `<bucket>/o/<key>` (current), `<bucket>/v/<key>.<versionId>` (noncurrent). */
export class ObjectStore {
  private readonly locks = new Map<string, Promise<unknown>>();
  constructor(private readonly dir: string) {}

  private bucketDir(bucket: string): string {
    if (!BUCKET_RE.test(bucket) || bucket.includes('..')) throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', 400);
    return join(this.dir, bucket);
  }

  async bucket(bucket: string): Promise<BucketInfo> {
    try {
      return JSON.parse(await readFile(join(this.bucketDir(bucket), 'bucket.json'), 'utf8')) as BucketInfo;
    } catch (err) {
      if (err instanceof S3Error) throw err;
      throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404);
    }
  }

  async createBucket(bucket: string): Promise<void> {
    const d = this.bucketDir(bucket);
    await this.locked(bucket, async () => {
      if (await this.bucket(bucket).then(() => true, () => false)) throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409);
      await mkdir(join(d, 'o'), { recursive: true });
      await mkdir(join(d, 'v'), { recursive: true });
      await writeFileAtomic(join(d, 'bucket.json'), JSON.stringify({ created: new Date().toISOString(), versioning: null } satisfies BucketInfo));
    });
  }

  async setVersioning(bucket: string, status: 'Enabled' | 'Suspended'): Promise<void> {
    await this.locked(bucket, async () => {
      const info = await this.bucket(bucket);
      await writeFileAtomic(join(this.bucketDir(bucket), 'bucket.json'), JSON.stringify({ ...info, versioning: status }));
    });
  }

  /** The current version of `key`, or null; a versionId reads that (possibly noncurrent) version. */
  async get(bucket: string, key: string, versionId?: string): Promise<{ meta: ObjectMeta; data: Buffer } | null> {
    validateKey(key);
    await this.bucket(bucket);
    const d = this.bucketDir(bucket);
    const current = await this.read(join(d, 'o', keyFile(key)));
    if (versionId === undefined || current?.meta.versionId === versionId) return current;
    if (!/^[0-9a-f]{32}$/.test(versionId)) throw new S3Error('InvalidArgument', 'Invalid version id specified', 400);
    return this.read(join(d, 'v', `${keyFile(key)}.${versionId}`));
  }

  /** Stores `data` as the current version of `key` if the conditions hold; 412 PreconditionFailed otherwise. */
  async put(bucket: string, key: string, data: Buffer, cond: PutConditions): Promise<ObjectMeta> {
    validateKey(key);
    return this.locked(bucket, async () => {
      const info = await this.bucket(bucket);
      const d = this.bucketDir(bucket);
      const path = join(d, 'o', keyFile(key));
      const current = await this.read(path);
      if (cond.ifNoneMatch !== undefined) {
        if (cond.ifNoneMatch.trim() !== '*') throw new S3Error('NotImplemented', 'If-None-Match on PutObject accepts only *', 501);
        if (current) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412);
      }
      if (cond.ifMatch !== undefined) {
        const want = cond.ifMatch.trim();
        if (!current) throw new S3Error('NoSuchKey', 'The specified key does not exist.', 404);
        if (want !== '*' && want.replace(/"/g, '') !== current.meta.etag.replace(/"/g, '')) {
          throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412);
        }
      }
      const meta: ObjectMeta = {
        key,
        etag: `"${createHash('md5').update(data).digest('hex')}"`,
        size: data.length,
        lastModified: new Date().toISOString(),
        versionId: info.versioning === 'Enabled' ? randomBytes(16).toString('hex') : 'null',
      };
      if (current && current.meta.versionId !== 'null') await rename(path, join(d, 'v', `${keyFile(key)}.${current.meta.versionId}`));
      await writeFileAtomic(path, encodeObject(meta, data), 0o600);
      return meta;
    });
  }

  /** Removes the current version (kept as noncurrent when it has a version id). Returns a delete-marker id when versioned. */
  async delete(bucket: string, key: string): Promise<string | null> {
    validateKey(key);
    return this.locked(bucket, async () => {
      const info = await this.bucket(bucket);
      const d = this.bucketDir(bucket);
      const path = join(d, 'o', keyFile(key));
      const current = await this.read(path);
      if (current && current.meta.versionId !== 'null') await rename(path, join(d, 'v', `${keyFile(key)}.${current.meta.versionId}`));
      else await unlink(path).catch(() => undefined);
      return info.versioning === 'Enabled' ? randomBytes(16).toString('hex') : null;
    });
  }

  /** Current objects whose key starts with `prefix`, in key order, after `startAfter`. */
  async list(bucket: string, prefix: string, startAfter: string, maxKeys: number): Promise<{ items: ObjectMeta[]; truncated: boolean }> {
    await this.bucket(bucket);
    const d = join(this.bucketDir(bucket), 'o');
    const keys: string[] = [];
    for (const f of await readdir(d)) {
      if (!/^[A-Za-z0-9_-]+$/.test(f)) continue; // temp files of an interrupted write
      const key = Buffer.from(f, 'base64url').toString('utf8');
      if (key.startsWith(prefix) && Buffer.compare(Buffer.from(key), Buffer.from(startAfter)) > 0) keys.push(key);
    }
    keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const items: ObjectMeta[] = [];
    for (const key of keys.slice(0, maxKeys)) {
      const o = await this.read(join(d, keyFile(key)));
      if (o) items.push(o.meta);
    }
    return { items, truncated: keys.length > maxKeys };
  }

  private async read(path: string): Promise<{ meta: ObjectMeta; data: Buffer } | null> {
    try {
      await stat(path);
      return decodeObject(await readFile(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  private locked<T>(bucket: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(bucket) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(bucket, tail);
    void tail.then(() => {
      if (this.locks.get(bucket) === tail) this.locks.delete(bucket);
    });
    return run;
  }
}
