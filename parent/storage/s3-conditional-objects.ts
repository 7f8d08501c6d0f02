// Runs on the parent. ConditionalObjects on S3: PutObject with `If-None-Match: *` (create only) and
// `If-Match: <etag>` (replace only that version). S3 answers 412 PreconditionFailed when the
// condition does not hold, 409 ConditionalRequestConflict when another conditional write to the key
// is in flight, and 404 NoSuchKey for If-Match on a missing key: in every one of those nothing was
// written, which is all the lease needs to know. Any other failure is ERR_STORAGE, so the lease
// never mistakes an outage for a lost race or the other way round.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CosignerError } from '../../proto/errors.ts';
import type { ConditionalObjects, TaggedObject } from './conditional-objects.ts';

/** The one method of S3Client used here (tests pass a fake). */
export type S3Sender = Pick<S3Client, 'send'>;

/** Largest object read: lease objects are a few hundred bytes. */
const MAX_OBJECT_BYTES = 64 * 1024;

interface AwsError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function status(err: unknown): number | undefined {
  return (err as AwsError | null)?.$metadata?.httpStatusCode;
}
function named(err: unknown, ...names: string[]): boolean {
  const e = err as AwsError | null;
  return names.includes(e?.name ?? '') || names.includes(e?.Code ?? '');
}

/** Did S3 refuse the write because its condition did not hold (nothing written)? */
export function isConditionFailure(err: unknown): boolean {
  return status(err) === 412 || status(err) === 409 || named(err, 'PreconditionFailed', 'ConditionalRequestConflict');
}

function storageError(op: string, key: string, err: unknown): CosignerError {
  const e = err as AwsError | null;
  return new CosignerError('ERR_STORAGE', `S3 ${op} ${key} failed: ${e?.name ?? 'error'}${status(err) ? ` (HTTP ${status(err)})` : ''}`, { cause: err });
}

export class S3ConditionalObjects implements ConditionalObjects {
  readonly #s3: S3Sender;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(o: { client: S3Sender; bucket: string; prefix?: string }) {
    this.#s3 = o.client;
    this.#bucket = o.bucket;
    this.#prefix = o.prefix ?? '';
  }

  async get(key: string): Promise<TaggedObject | null> {
    let out;
    try {
      out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }));
    } catch (err) {
      if (status(err) === 404 || named(err, 'NoSuchKey', 'NotFound')) return null;
      throw storageError('GetObject', key, err);
    }
    if (!out.ETag) throw new CosignerError('ERR_STORAGE', `S3 GetObject ${key} returned no ETag`);
    if ((out.ContentLength ?? 0) > MAX_OBJECT_BYTES) throw new CosignerError('ERR_STORAGE', `S3 object ${key} is larger than ${MAX_OBJECT_BYTES} bytes`);
    const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
    if (body.length > MAX_OBJECT_BYTES) throw new CosignerError('ERR_STORAGE', `S3 object ${key} is larger than ${MAX_OBJECT_BYTES} bytes`);
    return { body, etag: out.ETag };
  }

  putIfAbsent(key: string, body: Uint8Array): Promise<string | 'exists'> {
    return this.#put(key, body, { IfNoneMatch: '*' }, 'exists');
  }

  putIfMatch(key: string, body: Uint8Array, etag: string): Promise<string | 'changed'> {
    return this.#put(key, body, { IfMatch: etag }, 'changed');
  }

  async #put<F extends 'exists' | 'changed'>(key: string, body: Uint8Array, cond: { IfNoneMatch: string } | { IfMatch: string }, failed: F): Promise<string | F> {
    let out;
    try {
      out = await this.#s3.send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, Body: body, ContentType: 'application/json', ...cond }));
    } catch (err) {
      if (isConditionFailure(err)) return failed;
      // If-Match on a key that is gone: the version we held no longer exists.
      if (failed === 'changed' && (status(err) === 404 || named(err, 'NoSuchKey'))) return failed;
      throw storageError('PutObject', key, err);
    }
    if (!out.ETag) throw new CosignerError('ERR_STORAGE', `S3 PutObject ${key} returned no ETag`);
    return out.ETag;
  }
}
