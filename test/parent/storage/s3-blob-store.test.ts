// S3BlobStore against the S3 stand-in: CAS by generation, racing writers, retention, the start-up
// bucket check, a writer SIGKILLed mid-upload, persistence across a stand-in restart.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { startS3Standin, type S3Standin } from '../../../local/s3/server.ts';
import { encodeBlobFile } from '../../../parent/storage/blob-file.ts';
import { S3BlobStore } from '../../../parent/storage/s3-blob-store.ts';
import type { CredentialSource } from '../../../proto/ports.ts';
import { tempDir } from '../../support/temp-dir.ts';

const AKID = 'AKIDSTORE';
const SECRET = 'store-secret';
const creds: CredentialSource = { get: async () => ({ accessKeyId: AKID, secretAccessKey: SECRET }) };
const open: S3Standin[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function setup(o: { versioned?: boolean; bucket?: boolean; dir?: string; onBodyProgress?: (n: number) => void } = {}): Promise<{ s3: S3Standin; admin: S3Client; dir: string }> {
  const dir = o.dir ?? tempDir('s3store-');
  const principals = { [AKID]: { secretAccessKey: SECRET, arn: 'arn:aws:iam::1:role/cosigner' }, ADMIN: { secretAccessKey: 'admin', arn: 'arn:aws:iam::1:role/admin' } };
  const s3 = await startS3Standin({ dir, principals, ...(o.onBodyProgress ? { onBodyProgress: o.onBodyProgress } : {}) });
  open.push(s3);
  const admin = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: { accessKeyId: 'ADMIN', secretAccessKey: 'admin' } });
  if (o.bucket !== false && !o.dir) {
    await admin.send(new CreateBucketCommand({ Bucket: 'cosigner-test' }));
    if (o.versioned !== false) await admin.send(new PutBucketVersioningCommand({ Bucket: 'cosigner-test', VersioningConfiguration: { Status: 'Enabled' } }));
  }
  return { s3, admin, dir };
}

const storeOn = (s3: S3Standin, extra: { retain?: number; credentials?: CredentialSource } = {}): Promise<S3BlobStore> =>
  S3BlobStore.open({ bucket: 'cosigner-test', prefix: 'cosigner/prod', region: 'us-east-1', endpoint: s3.url, credentials: extra.credentials ?? creds, ...(extra.retain !== undefined ? { retain: extra.retain } : {}) });

async function keys(admin: S3Client, prefix: string): Promise<string[]> {
  return ((await admin.send(new ListObjectsV2Command({ Bucket: 'cosigner-test', Prefix: prefix }))).Contents ?? []).map((c) => c.Key!);
}

describe('S3BlobStore', () => {
  it('stores each generation as its own object and returns the newest', async () => {
    const { s3, admin } = await setup();
    const store = await storeOn(s3);
    expect(await store.get('secrets.db')).toBeNull();
    expect(await store.put('secrets.db', Uint8Array.of(1), 0n)).toBe(1n);
    expect(await store.put('secrets.db', Uint8Array.of(2, 2), 1n)).toBe(2n);
    expect(await store.get('secrets.db')).toEqual({ generation: 2n, data: Uint8Array.of(2, 2) });
    expect(await keys(admin, 'cosigner/prod/')).toEqual(['cosigner/prod/secrets.db/00000000000000000001', 'cosigner/prod/secrets.db/00000000000000000002']);
    await expect(store.put('secrets.db', Uint8Array.of(9), 1n)).rejects.toMatchObject({ code: 'ERR_GENERATION_CONFLICT' });
    await expect(store.put('secrets.db', Uint8Array.of(9), 0n)).rejects.toMatchObject({ code: 'ERR_GENERATION_CONFLICT' });
    await expect(store.put('../x', Uint8Array.of(9), 0n)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('lets exactly one of two instances commit a generation; the other gets ERR_GENERATION_CONFLICT', async () => {
    const { s3 } = await setup();
    const a = await storeOn(s3);
    const b = await storeOn(s3);
    await a.put('secrets.db', Uint8Array.of(0), 0n);
    const results = await Promise.allSettled([a.put('secrets.db', Uint8Array.of(0xa), 1n), b.put('secrets.db', Uint8Array.of(0xb), 1n)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toMatchObject({ code: 'ERR_GENERATION_CONFLICT' });
    expect((await a.get('secrets.db'))?.generation).toBe(2n);
  });

  it('refuses a write whose generation another writer created between our listing and our put (the conditional write is the guard)', async () => {
    const { s3, admin } = await setup();
    const client = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: { accessKeyId: AKID, secretAccessKey: SECRET } });
    const send = client.send.bind(client) as (c: unknown) => Promise<unknown>;
    let planted = false;
    // A racing instance commits generation 2 just after our listing showed generation 1 as newest.
    (client as unknown as { send: (c: unknown) => Promise<unknown> }).send = async (cmd) => {
      if (cmd instanceof PutObjectCommand && cmd.input.Key?.endsWith('/00000000000000000002') && !planted) {
        planted = true;
        await admin.send(new PutObjectCommand({ Bucket: 'cosigner-test', Key: cmd.input.Key, Body: encodeBlobFile(2n, Uint8Array.of(7)), IfNoneMatch: '*' }));
      }
      return send(cmd);
    };
    const store = S3BlobStore.unchecked({ bucket: 'cosigner-test', prefix: 'cosigner/prod', region: 'us-east-1', credentials: creds, client });
    await store.put('secrets.db', Uint8Array.of(1), 0n);
    await expect(store.put('secrets.db', Uint8Array.of(3), 1n)).rejects.toMatchObject({ code: 'ERR_GENERATION_CONFLICT' });
    expect(planted).toBe(true);
    expect(await store.get('secrets.db')).toEqual({ generation: 2n, data: Uint8Array.of(7) });
  });

  it('refuses an object whose header names another generation than its key', async () => {
    const { s3, admin } = await setup();
    const store = await storeOn(s3);
    await admin.send(new PutObjectCommand({ Bucket: 'cosigner-test', Key: 'cosigner/prod/secrets.key/00000000000000000005', Body: encodeBlobFile(4n, Uint8Array.of(1)) }));
    await expect(store.get('secrets.key')).rejects.toMatchObject({ code: 'ERR_STORAGE' });
    await admin.send(new PutObjectCommand({ Bucket: 'cosigner-test', Key: 'cosigner/prod/secrets.key/00000000000000000006', Body: Buffer.from('garbage') }));
    await expect(store.get('secrets.key')).rejects.toMatchObject({ code: 'ERR_STORAGE' });
  });

  it('keeps only the newest N generations when retain is set, all of them by default', async () => {
    const { s3, admin } = await setup();
    const keepAll = await storeOn(s3);
    for (let g = 0n; g < 5n; g++) await keepAll.put('secrets.key', Uint8Array.of(Number(g)), g);
    expect(await keys(admin, 'cosigner/prod/secrets.key/')).toHaveLength(5);
    const keep2 = await storeOn(s3, { retain: 2 });
    await keep2.put('secrets.db', Uint8Array.of(0), 0n);
    for (let g = 1n; g < 6n; g++) await keep2.put('secrets.db', Uint8Array.of(Number(g)), g);
    expect(await keys(admin, 'cosigner/prod/secrets.db/')).toEqual(['cosigner/prod/secrets.db/00000000000000000005', 'cosigner/prod/secrets.db/00000000000000000006']);
    expect((await keep2.get('secrets.db'))?.generation).toBe(6n);
  });

  it('refuses to open on a missing bucket, an unversioned bucket and one the role cannot write', async () => {
    const missing = await setup({ bucket: false });
    await expect(storeOn(missing.s3)).rejects.toMatchObject({ code: 'ERR_BUCKET_UNUSABLE', message: expect.stringContaining('does not exist') });
    const unversioned = await setup({ versioned: false });
    await expect(storeOn(unversioned.s3)).rejects.toMatchObject({ code: 'ERR_BUCKET_UNUSABLE', message: expect.stringContaining('versioning') });
    const wrongSecret: CredentialSource = { get: async () => ({ accessKeyId: AKID, secretAccessKey: 'not-the-secret' }) };
    await expect(storeOn(unversioned.s3, { credentials: wrongSecret })).rejects.toMatchObject({ code: 'ERR_BUCKET_UNUSABLE', message: expect.stringContaining('not accessible') });
  });

  it('keeps every generation across a stand-in restart', async () => {
    const first = await setup();
    await (await storeOn(first.s3)).put('secrets.db', Uint8Array.of(4, 2), 0n);
    await first.s3.close();
    open.splice(0);
    const second = await setup({ dir: first.dir });
    expect(await (await storeOn(second.s3)).get('secrets.db')).toEqual({ generation: 1n, data: Uint8Array.of(4, 2) });
  });

  it('leaves the old generation, complete, when the writer is SIGKILLed mid-upload', async () => {
    const size = 12 * 1024 * 1024;
    let killMidBody: (() => void) | undefined;
    const { s3 } = await setup({ onBodyProgress: (n) => n > 1024 * 1024 && n < size && killMidBody?.() });
    const store = await storeOn(s3);
    const old = new Uint8Array(1000).fill(0xaa);
    await store.put('secrets.db', old, 0n);
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/s3-writer.ts', import.meta.url)), s3.url, AKID, SECRET, '1', String(size)], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    let killed = false;
    killMidBody = () => {
      if (!killed) killed = child.kill('SIGKILL');
    };
    expect(await exited).toBe('SIGKILL');
    expect(killed).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(await store.get('secrets.db')).toEqual({ generation: 1n, data: old });
    // The store keeps working from the generation it shows; nothing half-written blocks generation 2.
    expect(await store.put('secrets.db', Uint8Array.of(1), 1n)).toBe(2n);
  });
});
