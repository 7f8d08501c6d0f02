import { afterEach, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { serveEnclavePorts } from '../../../parent/wire/serve-ports.ts';
import { makePair, type Pair } from '../../proto/runtime/pair.ts';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.close();
  pair = null;
});

describe('serveEnclavePorts (parent side)', () => {
  it('refuses blob names that could escape the store, before touching it', async () => {
    pair = await makePair();
    const touched: string[] = [];
    serveEnclavePorts(pair.parent, {
      blobs: { get: async (n) => (touched.push(n), null), put: async (n) => (touched.push(n), 1n) },
      credentials: { get: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }) },
      relay: async () => {
        throw new CosignerError('ERR_EGRESS_DENIED', 'no');
      },
      onLog: () => undefined,
    });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    for (const name of ['../x', '/abs', '.hidden', '', 'a/b', 'x'.repeat(200)]) {
      await expect(parent.BlobGet({ name }), name).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(parent.BlobPut({ name, data: new Uint8Array(1), expectedGeneration: 0n }), name).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    expect(touched).toEqual([]);
    expect(await parent.BlobGet({ name: 'secrets.key' })).toMatchObject({ found: false });
    expect(touched).toEqual(['secrets.key']);
  });

  it('bounds log batches and line length, and reports dropped lines', async () => {
    pair = await makePair();
    const lines: string[] = [];
    serveEnclavePorts(pair.parent, {
      blobs: { get: async () => null, put: async () => 1n },
      credentials: { get: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }) },
      relay: async () => {
        throw new CosignerError('ERR_EGRESS_DENIED', 'no');
      },
      onLog: (l) => lines.push(l),
    });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    await expect(parent.Log({ lines: Array.from({ length: 1025 }, () => 'x') })).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
    await parent.Log({ lines: ['y'.repeat(20_000)], dropped: 3 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ dropped: 3 });
    expect(lines[1]!.length).toBe(16 * 1024);
  });
});
