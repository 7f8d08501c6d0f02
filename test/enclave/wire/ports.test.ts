import { afterEach, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { createWirePorts } from '../../../enclave/wire/ports.ts';
import type { WireLogSink } from '../../../enclave/wire/log-sink.ts';
import { serveEnclavePorts } from '../../../parent/wire/serve-ports.ts';
import type { BlobStore, StoredBlob } from '../../../proto/ports.ts';
import { makePair, type Pair } from '../../proto/runtime/pair.ts';

function memoryBlobs(): BlobStore {
  const m = new Map<string, StoredBlob>();
  return {
    async get(name) {
      return m.get(name) ?? null;
    },
    async put(name, data, expected) {
      const cur = m.get(name)?.generation ?? 0n;
      if (cur !== expected) throw new CosignerError('ERR_GENERATION_CONFLICT', `expected ${expected}, have ${cur}`);
      m.set(name, { data: new Uint8Array(data), generation: cur + 1n });
      return cur + 1n;
    },
  };
}

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.close();
  pair = null;
});

describe('enclave ports over the wire', () => {
  async function setup(): Promise<{ pair: Pair; logs: string[] }> {
    const logs: string[] = [];
    const p = await makePair();
    serveEnclavePorts(p.parent, {
      blobs: memoryBlobs(),
      credentials: { get: async () => ({ accessKeyId: 'AKIA', secretAccessKey: 'sk', sessionToken: 'tok', expiration: new Date(1_900_000_000_000) }) },
      relay: async () => {
        throw new CosignerError('ERR_EGRESS_DENIED', 'nothing allowed here');
      },
      onLog: (l) => logs.push(l),
    });
    return { pair: p, logs };
  }

  it('stores and loads blobs with compare-and-swap generations', async () => {
    ({ pair } = await setup());
    const ports = createWirePorts(pair.enclave);
    expect(await ports.blobs.get('secrets.db')).toBeNull();
    expect(await ports.blobs.put('secrets.db', new Uint8Array([1, 2, 3]), 0n)).toBe(1n);
    expect(await ports.blobs.get('secrets.db')).toEqual({ data: new Uint8Array([1, 2, 3]), generation: 1n });
    await expect(ports.blobs.put('secrets.db', new Uint8Array([4]), 0n)).rejects.toMatchObject({ code: 'ERR_GENERATION_CONFLICT' });
    await expect(ports.blobs.get('../etc/passwd')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(ports.blobs.put('a', new Uint8Array(800 * 1024), 0n)).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
  });

  it('gets credentials', async () => {
    ({ pair } = await setup());
    const c = await createWirePorts(pair.enclave).credentials.get();
    expect(c).toEqual({ accessKeyId: 'AKIA', secretAccessKey: 'sk', sessionToken: 'tok', expiration: new Date(1_900_000_000_000) });
  });

  it('dial gives the relay\'s typed error', async () => {
    ({ pair } = await setup());
    await expect(createWirePorts(pair.enclave).dial('kms.us-east-1.amazonaws.com', 443)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
  });

  it('sends log lines to the parent in batches', async () => {
    const s = await setup();
    pair = s.pair;
    const sink = createWirePorts(pair.enclave).logs as WireLogSink;
    for (let i = 0; i < 600; i++) sink.write(`{"msg":"line ${i}"}\n`);
    await sink.flush();
    expect(s.logs).toHaveLength(600);
    expect(s.logs[599]).toBe('{"msg":"line 599"}');
  });
});

describe('a hostile parent', () => {
  async function rogue(impl: Record<string, (req: any) => Promise<any>>): Promise<Pair> {
    const p = await makePair();
    p.parent.register('cosigner.v1.Parent', impl);
    return p;
  }

  it('cannot roll a generation back or keep it still', async () => {
    pair = await rogue({ BlobPut: async (r: { expectedGeneration: bigint }) => ({ generation: r.expectedGeneration }) });
    await expect(createWirePorts(pair.enclave).blobs.put('a', new Uint8Array([1]), 5n)).rejects.toMatchObject({ code: 'ERR_STORAGE' });
  });

  it('cannot return an oversized blob or one without a generation', async () => {
    pair = await rogue({ BlobGet: async (r: { name: string }) => (r.name === 'big' ? { found: true, data: new Uint8Array(800 * 1024), generation: 1n } : { found: true, data: new Uint8Array(1), generation: 0n }) });
    const ports = createWirePorts(pair.enclave);
    await expect(ports.blobs.get('big')).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
    await expect(ports.blobs.get('nogen')).rejects.toMatchObject({ code: 'ERR_STORAGE' });
  });

  it('cannot hand over malformed credentials', async () => {
    pair = await rogue({ GetCredentials: async () => ({ accessKeyId: '', secretAccessKey: 'x' }) });
    await expect(createWirePorts(pair.enclave).credentials.get()).rejects.toMatchObject({ code: 'ERR_CREDENTIALS' });
  });

  it('that stops answering makes logging drop old lines, not grow memory', async () => {
    pair = await rogue({ Log: () => new Promise(() => undefined) });
    const sink = createWirePorts(pair.enclave, { log: { maxQueuedLines: 10, maxBatchLines: 5 } }).logs as WireLogSink;
    for (let i = 0; i < 1000; i++) sink.write(`line ${i}`);
    expect((sink as unknown as { queue: string[] }).queue.length).toBeLessThanOrEqual(10);
    expect(sink.droppedLines).toBeGreaterThan(900);
  });
});
