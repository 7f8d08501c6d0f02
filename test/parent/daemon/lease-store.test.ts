// The lease object's S3 client signs with the daemon's credential source (the instance role via
// IMDSv2, as the blob store does), not the SDK's default chain: against the S3 stand-in, a lease
// store given the role's credentials creates and replaces the object conditionally, and one given
// unknown credentials is refused (nothing written).
import { afterEach, describe, expect, it } from 'vitest';
import { startS3Standin, type S3Standin } from '../../../local/s3/server.ts';
import { ObjectStore } from '../../../local/s3/object-store.ts';
import { leaseStore } from '../../../parent/daemon/lease-runner.ts';
import { tempDir } from '../../support/temp-dir.ts';

const role = { accessKeyId: 'AKIDLEASE', secretAccessKey: 'lease-secret-1', sessionToken: 'lease-token' };
const open: S3Standin[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function standin(): Promise<S3Standin> {
  const dir = tempDir('lease-store-');
  const store = new ObjectStore(dir);
  await store.createBucket('lease-bucket');
  await store.setVersioning('lease-bucket', 'Enabled');
  const s3 = await startS3Standin({ dir, principals: { AKIDLEASE: { secretAccessKey: role.secretAccessKey, arn: 'arn:aws:iam::1:role/c', sessionToken: role.sessionToken } } });
  open.push(s3);
  return s3;
}

describe('leaseStore', () => {
  it('signs with the given credential source and honours the conditional writes', async () => {
    const s3 = await standin();
    const cfg = { bucket: 'lease-bucket', objectKey: 'lease', ttlMs: 3_000, region: 'us-east-1', endpoint: s3.url };
    const store = leaseStore(cfg, undefined, { get: async () => role });
    const etag = await store.putIfAbsent('lease', new TextEncoder().encode('a'));
    expect(etag).not.toBe('exists');
    expect(await store.putIfAbsent('lease', new TextEncoder().encode('b'))).toBe('exists');
    expect(await store.putIfMatch('lease', new TextEncoder().encode('c'), '"stale"')).toBe('changed');
    expect(await store.putIfMatch('lease', new TextEncoder().encode('d'), etag)).not.toBe('changed');
    expect(new TextDecoder().decode((await store.get('lease'))!.body)).toBe('d');
  });

  it('is refused with credentials the bucket does not know', async () => {
    const s3 = await standin();
    const cfg = { bucket: 'lease-bucket', objectKey: 'lease', ttlMs: 3_000, region: 'us-east-1', endpoint: s3.url };
    const stranger = leaseStore(cfg, undefined, { get: async () => ({ accessKeyId: 'AKIDOTHER', secretAccessKey: 'x', sessionToken: 'y' }) });
    await expect(stranger.putIfAbsent('lease', new TextEncoder().encode('a'))).rejects.toThrow();
    const owner = leaseStore(cfg, undefined, { get: async () => role });
    expect(await owner.get('lease')).toBeNull();
  });
});
