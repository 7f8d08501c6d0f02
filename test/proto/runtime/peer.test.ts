import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { FrameDecoder, encodeFrame } from '../../../proto/runtime/framing.ts';
import { Peer } from '../../../proto/runtime/peer.ts';
import type { MuxStream } from '../../../proto/runtime/stream.ts';
import { makePair, type Pair } from './pair.ts';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.close();
  pair = null;
});

const rawDirs: string[] = [];
afterAll(() => {
  for (const dir of rawDirs) rmSync(dir, { recursive: true, force: true });
});

const health = { Health: async () => ({ buildId: 'test-build', state: 'ready', protocolVersion: 1 }) };

/** A server that speaks raw frames, to play a misbehaving peer. */
async function rawServer(onFrames: (sock: net.Socket, kinds: string[], frames: any[]) => void): Promise<{ url: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'wire-raw-'));
  rawDirs.push(dir);
  const path = join(dir, 'raw.sock');
  const srv = net.createServer((sock) => {
    const d = new FrameDecoder();
    sock.on('data', (c) => {
      try {
        const fs = d.push(c);
        if (fs.length) onFrames(sock, fs.map((f) => f.kind!), fs);
      } catch {
        sock.destroy();
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(path, () => r()));
  return { url: `unix://${path}`, close: () => srv.close() };
}

function enclaveHandshake(overrides: Record<string, unknown> = {}): Buffer {
  return encodeFrame({ streamId: 0, handshake: { protocolVersion: 1, buildId: 'test-build', role: 'enclave', maxFrameBytes: 1 << 20, maxConcurrentStreams: 64, initialWindow: 65536, ...overrides } });
}

describe('handshake', () => {
  it('exchanges build ids', async () => {
    pair = await makePair({ buildId: 'p-1' }, { buildId: 'e-1' });
    expect(pair.parent.remoteBuildId).toBe('e-1');
    expect(pair.enclave.remoteBuildId).toBe('p-1');
  });

  it('refuses a different build when the parent requires equality', async () => {
    await expect(makePair({ buildId: 'p-1', requireSameBuild: true }, { buildId: 'e-2' })).rejects.toMatchObject({ code: 'ERR_BUILD_MISMATCH' });
  });

  it('refuses another protocol version', async () => {
    const raw = await rawServer((sock) => sock.write(enclaveHandshake({ protocolVersion: 2 })));
    await expect(Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 0 })).rejects.toMatchObject({ code: 'ERR_PROTOCOL_VERSION' });
    raw.close();
  });

  it('refuses a peer claiming the same role, or no handshake in time', async () => {
    const raw = await rawServer((sock) => sock.write(enclaveHandshake({ role: 'parent' })));
    await expect(Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 0 })).rejects.toMatchObject({ code: 'ERR_FRAME_MALFORMED' });
    raw.close();
    const silent = await rawServer(() => undefined);
    await expect(Peer.connect(silent.url, { role: 'parent', buildId: 'x', keepaliveMs: 0, handshakeTimeoutMs: 100 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    silent.close();
  });

  it('refuses a frame other than the handshake first', async () => {
    const raw = await rawServer((sock) => sock.write(encodeFrame({ streamId: 1, request: { method: 'x', payload: Buffer.alloc(0) } })));
    await expect(Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 0 })).rejects.toMatchObject({ code: 'ERR_FRAME_MALFORMED' });
    raw.close();
  });

  it('closes on an oversize frame from the peer', async () => {
    const raw = await rawServer((sock, kinds) => {
      if (kinds.includes('handshake')) {
        sock.write(enclaveHandshake());
        const p = Buffer.alloc(4);
        p.writeUInt32BE(5 << 20, 0);
        setTimeout(() => sock.write(p), 20);
      }
    });
    const peer = await Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 0 });
    const err = await new Promise((r) => peer.once('close', r));
    expect(err).toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
    raw.close();
  });
});

describe('options', () => {
  it('refuses invalid configuration before touching the socket', async () => {
    const { PassThrough } = await import('node:stream');
    const bad: Array<Record<string, unknown>> = [
      { role: 'admin', buildId: 'b' },
      { role: 'parent', buildId: '' },
      { role: 'parent', buildId: 'x'.repeat(300) },
      { role: 'parent', buildId: 'b', maxFrameBytes: 100 },
      { role: 'parent', buildId: 'b', maxFrameBytes: 1 << 30 },
      { role: 'parent', buildId: 'b', initialWindow: Number.NaN },
      { role: 'parent', buildId: 'b', initialWindow: 10 },
      { role: 'parent', buildId: 'b', maxConcurrentStreams: 0 },
      { role: 'parent', buildId: 'b', keepaliveMs: -1 },
    ];
    for (const o of bad) {
      const sock = new PassThrough();
      expect(() => new Peer(sock, o as never), JSON.stringify(o).slice(0, 60)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
      expect(sock.readableLength + sock.writableLength).toBe(0);
    }
  });
});

describe('rpc', () => {
  it('round-trips requests with bigint and bytes, and typed errors by code', async () => {
    pair = await makePair({}, {}, (e) => e.register('cosigner.v1.Enclave', health));
    pair.parent.register('cosigner.v1.Parent', {
      BlobPut: async (r: { name: string; data: Uint8Array; expectedGeneration: bigint }) => {
        if (r.name === 'conflict') throw new CosignerError('ERR_GENERATION_CONFLICT', 'stale generation');
        if (r.name === 'boom') throw new Error('secret-canary-42');
        return { generation: r.expectedGeneration + 1n };
      },
    });
    expect(await pair.parent.client('cosigner.v1.Enclave').Health({})).toEqual({ buildId: 'test-build', state: 'ready', protocolVersion: 1 });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    expect(await parent.BlobPut({ name: 'a', data: new Uint8Array([1]), expectedGeneration: (1n << 63n) + 1n })).toEqual({ generation: (1n << 63n) + 2n });
    const e1 = await parent.blobPut({ name: 'conflict', data: new Uint8Array(), expectedGeneration: 1n }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(CosignerError);
    expect(e1).toMatchObject({ code: 'ERR_GENERATION_CONFLICT', retryable: true });
    const e2 = await parent.BlobPut({ name: 'boom', data: new Uint8Array(), expectedGeneration: 1n }).catch((e: CosignerError) => e);
    expect(e2).toMatchObject({ code: 'ERR_INTERNAL' });
    expect(e2.message).not.toContain('secret-canary-42');
    await expect(parent.BlobGet({ name: 'x' })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_METHOD' });
  });

  it('rejects registration of unknown services or methods, and bad requests locally', async () => {
    pair = await makePair();
    expect(() => pair!.parent.register('cosigner.v1.Nope', {})).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_METHOD' }));
    expect(() => pair!.parent.register('cosigner.v1.Parent', { Bogus: async () => ({}) })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_METHOD' }));
    expect(() => pair!.parent.client('cosigner.v1.Nope')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_METHOD' }));
    await expect(pair.enclave.client('cosigner.v1.Parent').BlobGet(null)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('rejects a request larger than the frame limit without sending it', async () => {
    // The parent accepts at most 4 KiB per frame: the enclave learns that in the handshake.
    pair = await makePair({ maxFrameBytes: 4096 });
    pair.parent.register('cosigner.v1.Parent', { BlobPut: async () => ({ generation: 1n }) });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    await expect(parent.BlobPut({ name: 'a', data: new Uint8Array(8192), expectedGeneration: 0n })).rejects.toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
    expect(pair.enclave.stats().calls).toBe(0);
  });

  it('runs hundreds of concurrent calls', async () => {
    pair = await makePair();
    pair.parent.register('cosigner.v1.Parent', {
      BlobGet: async (r: { name: string }) => {
        await new Promise((res) => setImmediate(res));
        return { found: true, data: Buffer.from(r.name), generation: BigInt(r.name.length) };
      },
    });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => parent.BlobGet({ name: `blob-${i}` })));
    results.forEach((r: { data: Uint8Array }, i: number) => expect(Buffer.from(r.data).toString()).toBe(`blob-${i}`));
    expect(pair.enclave.stats().calls).toBe(0);
    expect(pair.parent.stats().serving).toBe(0);
  });

  it('bounds concurrent calls by the peer limit', async () => {
    pair = await makePair({ maxConcurrentStreams: 4 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    pair.parent.register('cosigner.v1.Parent', { BlobGet: async () => (await gate, { found: false }) });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    const calls = Array.from({ length: 4 }, () => parent.BlobGet({ name: 'a' }));
    await expect(parent.BlobGet({ name: 'a' })).rejects.toMatchObject({ code: 'ERR_BUSY' });
    release();
    await Promise.all(calls);
  });

  it('cancels a call through its AbortSignal and aborts the handler', async () => {
    pair = await makePair();
    let handlerSignal: AbortSignal | null = null;
    const aborted = new Promise<unknown>((resolve) => {
      pair!.parent.register('cosigner.v1.Parent', {
        BlobGet: (_r: unknown, ctx: { signal: AbortSignal }) => {
          handlerSignal = ctx.signal;
          ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason));
          return new Promise(() => undefined);
        },
      });
    });
    const ac = new AbortController();
    const p = pair.enclave.client('cosigner.v1.Parent').BlobGet({ name: 'a' }, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
    expect(await aborted).toMatchObject({ code: 'ERR_CANCELLED' });
    expect(handlerSignal!.aborted).toBe(true);
    const pre = new AbortController();
    pre.abort();
    await expect(pair.enclave.client('cosigner.v1.Parent').BlobGet({ name: 'a' }, { signal: pre.signal })).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
  });

  it('fails a call past its deadline, and the callee sees the deadline', async () => {
    pair = await makePair();
    const seen = new Promise<unknown>((resolve) => {
      pair!.parent.register('cosigner.v1.Parent', {
        BlobGet: (_r: unknown, ctx: { signal: AbortSignal }) => new Promise((_res, rej) => ctx.signal.addEventListener('abort', () => (resolve(ctx.signal.reason), rej(ctx.signal.reason)))),
      });
    });
    await expect(pair.enclave.client('cosigner.v1.Parent').BlobGet({ name: 'a' }, { deadlineMs: 30 })).rejects.toMatchObject({ code: 'ERR_DEADLINE_EXCEEDED' });
    expect(['ERR_DEADLINE_EXCEEDED', 'ERR_CANCELLED']).toContain(((await seen) as CosignerError).code);
  });

  it('expires each call at its own deadline under the shared deadline timer, in any order', async () => {
    pair = await makePair();
    pair.parent.register('cosigner.v1.Parent', { BlobGet: () => new Promise(() => undefined) });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    const settled: string[] = [];
    const track = (name: string, deadlineMs: number): Promise<void> =>
      parent.BlobGet({ name }, { deadlineMs }).then(
        () => void settled.push(`${name}:resolved`),
        (e: CosignerError) => void settled.push(`${name}:${e.code}`),
      );
    // A long deadline first, then a shorter one: the timer must be re-armed for the earlier one.
    const slow = track('slow', 400);
    const fast = track('fast', 20);
    await fast;
    expect(settled).toEqual(['fast:ERR_DEADLINE_EXCEEDED']);
    expect(pair.enclave.stats().calls).toBe(1);
    await slow;
    expect(settled).toEqual(['fast:ERR_DEADLINE_EXCEEDED', 'slow:ERR_DEADLINE_EXCEEDED']);
    expect(pair.enclave.stats().calls).toBe(0);
  });

  it('fails every pending call with ERR_CONNECTION_CLOSED when the connection drops', async () => {
    pair = await makePair();
    pair.parent.register('cosigner.v1.Parent', { BlobGet: () => new Promise(() => undefined) });
    const parent = pair.enclave.client('cosigner.v1.Parent');
    const calls = Array.from({ length: 20 }, () => parent.BlobGet({ name: 'a' }).catch((e: CosignerError) => e.code));
    await new Promise((r) => setTimeout(r, 20));
    const closed = new Promise((r) => pair!.enclave.once('close', r));
    (pair.parent as unknown as { socket: net.Socket }).socket.destroy();
    expect(new Set(await Promise.all(calls))).toEqual(new Set(['ERR_CONNECTION_CLOSED']));
    expect(await closed).toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    await expect(parent.BlobGet({ name: 'a' })).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
  });

  it('closes gracefully: goaway lets running calls finish, then refuses new ones', async () => {
    pair = await makePair({ closeGraceMs: 2000 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    pair.enclave.register('cosigner.v1.Enclave', { Health: async () => (await gate, { state: 'done' }) });
    const running = pair.parent.client('cosigner.v1.Enclave').Health({});
    await new Promise((r) => setTimeout(r, 20));
    const closing = pair.parent.close();
    await expect(pair.parent.client('cosigner.v1.Enclave').Health({})).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    release();
    expect(await running).toMatchObject({ state: 'done' });
    await closing;
    const enclaveClose = await new Promise((r) => (pair!.enclave.isClosed ? r(undefined) : pair!.enclave.once('close', r)));
    expect(enclaveClose).toBeUndefined();
  });

  it('detects a silent peer by keepalive', async () => {
    const raw = await rawServer((sock, kinds) => {
      if (kinds.includes('handshake')) sock.write(enclaveHandshake()); // then never answers pings
    });
    const peer = await Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 20, keepaliveTimeoutMs: 60 });
    expect(await new Promise((r) => peer.once('close', r))).toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    raw.close();
  });

  it('keeps a live connection open with pings', async () => {
    pair = await makePair({ keepaliveMs: 10, keepaliveTimeoutMs: 80 }, { keepaliveMs: 10, keepaliveTimeoutMs: 80 });
    await new Promise((r) => setTimeout(r, 200));
    expect(pair.parent.isClosed).toBe(false);
    expect(pair.enclave.isClosed).toBe(false);
  });

  it('drops a peer that keeps asking and never reads the answers', async () => {
    const raw = await rawServer((sock, kinds) => {
      if (!kinds.includes('handshake')) return;
      sock.write(enclaveHandshake());
      sock.pause(); // never read again
      // Each request for an unknown method earns a ~300-byte error reply.
      const method = 'm'.repeat(256);
      const reqs = Array.from({ length: 12_000 }, (_, i) => encodeFrame({ streamId: 2 * (i + 1), request: { method, payload: Buffer.alloc(0) } }));
      sock.write(Buffer.concat(reqs));
    });
    const peer = await Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 0, maxSocketBacklogBytes: 1 });
    const err = peer.isClosed ? undefined : await new Promise((r) => peer.once('close', r));
    expect(err).toMatchObject({ code: 'ERR_FLOW_CONTROL' });
    raw.close();
  });

  it('rejects a reused or wrong-parity stream id from the peer', async () => {
    const raw = await rawServer((sock, kinds) => {
      if (kinds.includes('handshake')) {
        sock.write(enclaveHandshake());
        // Even ids belong to the enclave; 3 is a parent id: a hostile enclave cannot use it.
        sock.write(encodeFrame({ streamId: 3, request: { method: 'cosigner.v1.Parent/BlobGet', payload: Buffer.alloc(0) } }));
      }
    });
    const peer = await Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 0 });
    expect(await new Promise((r) => peer.once('close', r))).toMatchObject({ code: 'ERR_FRAME_MALFORMED' });
    raw.close();
  });
});

describe('tunnels and flow control', () => {
  async function echoPair(opts: { initialWindow?: number } = {}): Promise<Pair> {
    const p = await makePair({ initialWindow: opts.initialWindow }, { initialWindow: opts.initialWindow });
    p.parent.onTunnel(async (host, port) => {
      if (port === 9) throw new CosignerError('ERR_EGRESS_DENIED', `denied ${host}:${port}`);
      const { PassThrough } = await import('node:stream');
      return new PassThrough(); // an echo: what the enclave writes comes back
    });
    return p;
  }

  it('echoes bytes and half-closes cleanly', async () => {
    pair = await echoPair();
    const t = await pair.enclave.openTunnel('example.test', 443);
    const chunks: Buffer[] = [];
    t.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => t.on('end', r));
    const payload = Buffer.alloc(1_000_000, 3);
    t.end(payload);
    await ended;
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(pair.enclave.stats().streams).toBe(0);
  });

  it('delivers every chunk when many writes are buffered at once (re-entrant write callbacks)', async () => {
    pair = await echoPair();
    const t = await pair.enclave.openTunnel('example.test', 443);
    const chunks: Buffer[] = [];
    t.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => t.on('end', r));
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const b = Buffer.alloc(16 * 1024 + i, i & 0xff);
      sent.push(b);
      t.write(b); // no waiting for drain: the Writable buffers and calls _write back to back
    }
    t.write(Buffer.alloc(0));
    t.end();
    await ended;
    expect(Buffer.concat(chunks).equals(Buffer.concat(sent))).toBe(true);
  }, 10_000);

  it('gives the opener the handler\'s typed error, and no handler means denied', async () => {
    pair = await echoPair();
    await expect(pair.enclave.openTunnel('example.test', 9)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
    await expect(pair.parent.openTunnel('example.test', 443)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
    await expect(pair.enclave.openTunnel('', 443)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(pair.enclave.openTunnel('a', 70000)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('runs hundreds of concurrent streams', async () => {
    pair = await echoPair();
    const one = async (i: number): Promise<boolean> => {
      const t = await pair!.enclave.openTunnel('example.test', 443);
      const data = Buffer.alloc(10_000 + i, i & 0xff);
      const chunks: Buffer[] = [];
      t.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise((r) => t.on('end', r));
      t.end(data);
      await ended;
      return Buffer.concat(chunks).equals(data);
    };
    const ok = await Promise.all(Array.from({ length: 300 }, (_, i) => one(i)));
    expect(ok.every(Boolean)).toBe(true);
  });

  it('a slow reader keeps buffered bytes within one window, and other streams keep flowing', async () => {
    const window = 64 * 1024;
    pair = await makePair({ initialWindow: window }, { initialWindow: window });
    let target!: Duplex;
    pair.parent.onTunnel(async () => {
      const { PassThrough } = await import('node:stream');
      target = new PassThrough({ highWaterMark: 1024 });
      return target;
    });
    const t = (await pair.enclave.openTunnel('slow.test', 443)) as MuxStream;
    t.pause();
    // The enclave writes far more than a window; nobody reads on the parent side.
    const big = Buffer.alloc(4 * 1024 * 1024, 1);
    let writeDone = false;
    t.write(big, () => (writeDone = true));
    await new Promise((r) => setTimeout(r, 100));
    const parentStream = (pair.parent as unknown as { streams: Map<number, MuxStream> }).streams.get(t.id)!;
    expect(parentStream).toBeDefined();
    // Receiver holds ≤ one window + what its consumer buffers; the sender ran out of credit.
    expect(parentStream.queuedBytes).toBeLessThanOrEqual(window);
    expect(parentStream.remoteCredit).toBeGreaterThanOrEqual(0);
    expect(t.localCredit).toBeLessThan(window);
    expect(writeDone).toBe(false);
    expect(pair.parent.stats().socketBuffered + pair.enclave.stats().socketBuffered).toBeLessThan(2 * window);
    // A second stream on the same connection still works.
    pair.parent.register('cosigner.v1.Parent', { BlobGet: async () => ({ found: false }) });
    await expect(pair.enclave.client('cosigner.v1.Parent').BlobGet({ name: 'x' })).resolves.toMatchObject({ found: false });
    t.destroy();
  });

  it('resets a stream whose peer sends beyond its credit', async () => {
    const raw = await rawServer((sock, kinds, frames) => {
      if (kinds.includes('handshake')) sock.write(enclaveHandshake());
      const open = frames.find((f) => f.kind === 'open');
      if (open) {
        // This fake parent accepts, then floods past the 1 KiB... window granted by the client.
        sock.write(encodeFrame({ streamId: open.streamId, accept: {} }));
        sock.write(encodeFrame({ streamId: open.streamId, data: { data: Buffer.alloc(4096) } }));
      }
    });
    const enclaveSide = await Peer.connect(raw.url, { role: 'parent', buildId: 'x', keepaliveMs: 0, initialWindow: 1024 });
    // Role naming aside, the connecting side opens the tunnel here.
    const t = await enclaveSide.openTunnel('x.test', 443);
    const err = t.errored ?? (await new Promise((r) => t.once('error', r)));
    expect(err).toMatchObject({ code: 'ERR_FLOW_CONTROL' });
    await enclaveSide.close();
    raw.close();
  });

  it('cancels a tunnel open through its signal', async () => {
    pair = await makePair();
    pair.parent.onTunnel(() => new Promise(() => undefined));
    const ac = new AbortController();
    const p = pair.enclave.openTunnel('x.test', 443, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
  });

  it('destroys open tunnels with ERR_CONNECTION_CLOSED when the connection drops', async () => {
    pair = await echoPair();
    const t = await pair.enclave.openTunnel('x.test', 443);
    const err = new Promise((r) => t.once('error', r));
    (pair.parent as unknown as { socket: net.Socket }).socket.destroy();
    expect(await err).toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
  });
});
