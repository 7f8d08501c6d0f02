// The daemon's storage section: config parsing, and the start-up refusal when the S3 bucket is
// missing or unversioned (ERR_BUCKET_UNUSABLE before any socket is opened).
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { startS3Standin, type S3Standin } from '../../../local/s3/server.ts';
import { parseConfig } from '../../../parent/config/config.ts';
import { startDaemon } from '../../../parent/daemon/daemon.ts';
import { tempDir, testConfig } from './helpers.ts';

const creds = { get: async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-canary-123', sessionToken: 'tok' }) };
const open: S3Standin[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

describe('storage config', () => {
  it('defaults to file storage and parses an s3 section', () => {
    expect(parseConfig({ mode: 'local' }).storage).toEqual({ type: 'file' });
    expect(parseConfig({ mode: 'nitro', eifPath: '/x.eif', storage: { type: 's3', bucket: 'my-bucket', prefix: 'cosigner/prod', region: 'us-east-1', retain: 10 } }).storage).toEqual({
      type: 's3',
      bucket: 'my-bucket',
      prefix: 'cosigner/prod',
      region: 'us-east-1',
      retain: 10,
    });
  });

  it.each([
    [{ type: 'disk' }, 'storage.type'],
    [{ type: 'file', bucket: 'x' }, 'storage.bucket'],
    [{ type: 's3', bucket: 'UPPER', prefix: 'p', region: 'us-east-1' }, 'storage.bucket'],
    [{ type: 's3', bucket: 'abc', prefix: '/p/', region: 'us-east-1' }, 'storage.prefix'],
    [{ type: 's3', bucket: 'abc', prefix: 'p', region: 'mars' }, 'storage.region'],
    [{ type: 's3', bucket: 'abc', prefix: 'p', region: 'us-east-1', retain: -1 }, 'storage.retain'],
    [{ type: 's3', bucket: 'abc', prefix: 'p', region: 'us-east-1', endpoint: 'http://10.0.0.1:9000' }, 'storage.endpoint'],
    [{ type: 's3', bucket: 'abc', prefix: 'p', region: 'us-east-1', acl: 'public' }, 'storage.acl'],
  ])('refuses %j', (storage, field) => {
    expect(() => parseConfig({ mode: 'local', storage })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', details: { field } }));
  });

  it('refuses an endpoint override outside local mode', () => {
    const storage = { type: 's3', bucket: 'abc', prefix: 'p', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000' };
    expect(() => parseConfig({ mode: 'nitro', eifPath: '/x.eif', storage })).toThrow(expect.objectContaining({ details: { field: 'storage.endpoint' } }));
    expect(parseConfig({ mode: 'local', storage }).storage).toMatchObject({ endpoint: 'http://127.0.0.1:9000' });
  });
});

describe('daemon with S3 storage', () => {
  it('refuses to start on a missing bucket and an unversioned one, and starts on a versioned one', async () => {
    const s3 = await startS3Standin({ dir: tempDir('s3d-'), principals: { AKIDTEST: { secretAccessKey: 'secret-canary-123', arn: 'arn:aws:iam::1:role/c', sessionToken: 'tok' } } });
    open.push(s3);
    const storage = { type: 's3', bucket: 'cosigner-state', prefix: 'c', region: 'us-east-1', endpoint: s3.url };
    await expect(startDaemon(await testConfig({ storage }), { credentials: creds, startEnclave: false })).rejects.toMatchObject({ code: 'ERR_BUCKET_UNUSABLE' });
    const admin = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-canary-123', sessionToken: 'tok' } });
    await admin.send(new CreateBucketCommand({ Bucket: 'cosigner-state' }));
    await expect(startDaemon(await testConfig({ storage }), { credentials: creds, startEnclave: false })).rejects.toMatchObject({ code: 'ERR_BUCKET_UNUSABLE', message: expect.stringContaining('versioning') });
    await admin.send(new PutBucketVersioningCommand({ Bucket: 'cosigner-state', VersioningConfiguration: { Status: 'Enabled' } }));
    const d = await startDaemon(await testConfig({ storage }), { credentials: creds, startEnclave: false });
    await d.close();
  });
});
