import { describe, expect, it } from 'vitest';
import { BOOT_DESCRIPTOR_BLOB, parseBootDescriptor, readBootDescriptor, writeBootDescriptor } from '../../../enclave/services/boot-descriptor.ts';
import { MemoryBlobStore } from '../../../parent/storage/memory-blob-store.ts';

const good = { version: 1, cosignerId: 'c0ffee00-1111-2222-3333-444455556666', keyArn: 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234', region: 'us-east-1' };
const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));

describe('boot descriptor', () => {
  it('round-trips through the blob store and replaces a leftover', async () => {
    const blobs = new MemoryBlobStore();
    expect(await readBootDescriptor(blobs)).toBeNull();
    await writeBootDescriptor(blobs, { ...good, version: 1 });
    await writeBootDescriptor(blobs, { ...good, version: 1, kmsEndpoint: 'https://127.0.0.1:4443' });
    expect(await readBootDescriptor(blobs)).toEqual({ ...good, kmsEndpoint: 'https://127.0.0.1:4443' });
    expect((await blobs.get(BOOT_DESCRIPTOR_BLOB))?.generation).toBe(2n);
  });

  it('refuses anything the parent could have tampered into a different shape', () => {
    const bad = (o: unknown): string => {
      try {
        parseBootDescriptor(typeof o === 'string' ? new TextEncoder().encode(o) : enc(o));
      } catch (err) {
        return (err as { code: string }).code;
      }
      return 'accepted';
    };
    expect(bad(good)).toBe('accepted');
    expect(bad('not json')).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad([good])).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad({ ...good, version: 2 })).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad({ ...good, extra: 1 })).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad({ ...good, cosignerId: '../x' })).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad({ ...good, keyArn: 'arn:aws:kms:us-east-1:1:key/x' })).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad({ ...good, region: 'mars' })).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad({ ...good, kmsEndpoint: 'http://evil.example' })).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(bad({ ...good, cosignerId: 'x'.repeat(5000) })).toBe('ERR_SECRETS_KEY_CORRUPT');
  });
});
