// The S3 stand-in against the unmodified @aws-sdk/client-s3: bucket and object operations,
// conditional writes, SigV4 refusals, persistence across a restart.
import { createHash } from 'node:crypto';
import http from 'node:http';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { startS3Standin, type S3Standin } from '../../../local/s3/server.ts';
import { tempDir } from '../../support/temp-dir.ts';

const AKID = 'AKIDS3TEST';
const SECRET = 'secret-s3-test';
const principals = { [AKID]: { secretAccessKey: SECRET, arn: 'arn:aws:iam::111122223333:role/cosigner' } };
const open: S3Standin[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function start(dir = tempDir('s3-')): Promise<{ s3: S3Standin; client: S3Client; dir: string }> {
  const s3 = await startS3Standin({ dir, principals });
  open.push(s3);
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, maxAttempts: 1 });
  return { s3, client, dir };
}

const status = (e: unknown): number | undefined => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

describe('S3 stand-in', () => {
  it('creates a versioned bucket and puts, gets, heads, lists and deletes objects', async () => {
    const { client } = await start();
    await client.send(new CreateBucketCommand({ Bucket: 'bk1' }));
    await client.send(new HeadBucketCommand({ Bucket: 'bk1' }));
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'bk1' }))).Status).toBeUndefined();
    await client.send(new PutBucketVersioningCommand({ Bucket: 'bk1', VersioningConfiguration: { Status: 'Enabled' } }));
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'bk1' }))).Status).toBe('Enabled');
    const body = Buffer.from('hello world');
    const put = await client.send(new PutObjectCommand({ Bucket: 'bk1', Key: 'a/b c/1', Body: body }));
    expect(put.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    expect(put.VersionId).toMatch(/^[0-9a-f]{32}$/);
    const got = await client.send(new GetObjectCommand({ Bucket: 'bk1', Key: 'a/b c/1' }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    expect((await client.send(new HeadObjectCommand({ Bucket: 'bk1', Key: 'a/b c/1' }))).ContentLength).toBe(body.length);
    for (let i = 2; i <= 5; i++) await client.send(new PutObjectCommand({ Bucket: 'bk1', Key: `a/b c/${i}`, Body: Buffer.from([i]) }));
    await client.send(new PutObjectCommand({ Bucket: 'bk1', Key: 'other', Body: Buffer.from('x') }));
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await client.send(new ListObjectsV2Command({ Bucket: 'bk1', Prefix: 'a/', MaxKeys: 2, ...(token ? { ContinuationToken: token } : {}) }));
      keys.push(...(r.Contents ?? []).map((c) => c.Key!));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    expect(keys).toEqual(['a/b c/1', 'a/b c/2', 'a/b c/3', 'a/b c/4', 'a/b c/5']);
    await client.send(new DeleteObjectCommand({ Bucket: 'bk1', Key: 'a/b c/1' }));
    await expect(client.send(new GetObjectCommand({ Bucket: 'bk1', Key: 'a/b c/1' }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    // The overwritten/deleted version is still readable by its id (versioning keeps it).
    const old = await client.send(new GetObjectCommand({ Bucket: 'bk1', Key: 'a/b c/1', VersionId: put.VersionId! }));
    expect(Buffer.from(await old.Body!.transformToByteArray())).toEqual(body);
  });

  it('refuses a missing bucket and a duplicate bucket with S3 error codes', async () => {
    const { client } = await start();
    await expect(client.send(new HeadBucketCommand({ Bucket: 'nope' }))).rejects.toSatisfy((e) => status(e) === 404);
    await expect(client.send(new PutObjectCommand({ Bucket: 'nope', Key: 'k', Body: 'x' }))).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await client.send(new CreateBucketCommand({ Bucket: 'dup' }));
    await expect(client.send(new CreateBucketCommand({ Bucket: 'dup' }))).rejects.toMatchObject({ name: 'BucketAlreadyOwnedByYou' });
  });

  it('honours If-None-Match: * and If-Match on PutObject (412 PreconditionFailed)', async () => {
    const { client } = await start();
    await client.send(new CreateBucketCommand({ Bucket: 'cwb' }));
    const first = await client.send(new PutObjectCommand({ Bucket: 'cwb', Key: 'k', Body: 'one', IfNoneMatch: '*' }));
    await expect(client.send(new PutObjectCommand({ Bucket: 'cwb', Key: 'k', Body: 'two', IfNoneMatch: '*' }))).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    await expect(client.send(new PutObjectCommand({ Bucket: 'cwb', Key: 'k', Body: 'two', IfMatch: '"00000000000000000000000000000000"' }))).rejects.toMatchObject({ name: 'PreconditionFailed' });
    await client.send(new PutObjectCommand({ Bucket: 'cwb', Key: 'k', Body: 'three', IfMatch: first.ETag! }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'cwb', Key: 'k' }));
    expect(await got.Body!.transformToString()).toBe('three');
    // Racing creators of one key: exactly one wins.
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => client.send(new PutObjectCommand({ Bucket: 'cwb', Key: 'race', Body: `w${i}`, IfNoneMatch: '*' }))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && status(r.reason) === 412)).toHaveLength(7);
  });

  it('refuses a wrong secret, an unknown key id and an unsigned request', async () => {
    const { s3, client } = await start();
    await client.send(new CreateBucketCommand({ Bucket: 'sig' }));
    const bad = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, credentials: { accessKeyId: AKID, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    await expect(bad.send(new PutObjectCommand({ Bucket: 'sig', Key: 'k', Body: 'x' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    const unknown = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, credentials: { accessKeyId: 'AKIDOTHER', secretAccessKey: SECRET }, maxAttempts: 1 });
    await expect(unknown.send(new GetObjectCommand({ Bucket: 'sig', Key: 'k' }))).rejects.toMatchObject({ name: 'InvalidAccessKeyId' });
    const wrongRegion = new S3Client({ region: 'eu-west-1', endpoint: s3.url, forcePathStyle: true, credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, maxAttempts: 1 });
    await expect(wrongRegion.send(new GetObjectCommand({ Bucket: 'sig', Key: 'k' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    const unsigned = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${s3.url}/sig/k`, { method: 'PUT', headers: { 'content-length': 1 } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end('x');
    });
    expect(unsigned.status).toBe(403);
    expect(unsigned.body).toContain('<Code>AccessDenied</Code>');
    await expect(client.send(new HeadObjectCommand({ Bucket: 'sig', Key: 'k' }))).rejects.toSatisfy((e) => status(e) === 404);
  });

  it('refuses a body larger than the limit before storing it', async () => {
    const dir = tempDir('s3-');
    const s3 = await startS3Standin({ dir, principals, maxBodyBytes: 1024 });
    open.push(s3);
    const client = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, maxAttempts: 1 });
    await client.send(new CreateBucketCommand({ Bucket: 'big' }));
    await expect(client.send(new PutObjectCommand({ Bucket: 'big', Key: 'k', Body: Buffer.alloc(2048) }))).rejects.toMatchObject({ name: 'EntityTooLarge' });
    await expect(client.send(new HeadObjectCommand({ Bucket: 'big', Key: 'k' }))).rejects.toSatisfy((e) => status(e) === 404);
  });

  it('keeps buckets and objects across a restart on the same directory', async () => {
    const first = await start();
    await first.client.send(new CreateBucketCommand({ Bucket: 'keep' }));
    await first.client.send(new PutBucketVersioningCommand({ Bucket: 'keep', VersioningConfiguration: { Status: 'Enabled' } }));
    await first.client.send(new PutObjectCommand({ Bucket: 'keep', Key: 'k', Body: 'persisted' }));
    await first.s3.close();
    open.splice(open.indexOf(first.s3), 1);
    const second = await start(first.dir);
    expect((await second.client.send(new GetBucketVersioningCommand({ Bucket: 'keep' }))).Status).toBe('Enabled');
    expect(await (await second.client.send(new GetObjectCommand({ Bucket: 'keep', Key: 'k' }))).Body!.transformToString()).toBe('persisted');
  });
});
