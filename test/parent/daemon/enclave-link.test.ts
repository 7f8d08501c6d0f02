// The parent's production connection to the enclave (EnclaveLink): it dials (the enclave only
// listens), waits for an enclave that is still starting, redials after a drop with a fresh handshake,
// and stops dialling when told the enclave stopped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer } from '../../../proto/runtime/peer.ts';
import { EnclaveLink } from '../../../parent/daemon/enclave-link.ts';
import { MemoryBlobStore } from '../../../parent/storage/memory-blob-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function link(url: string, dialWindowMs = 10_000): EnclaveLink {
  return new EnclaveLink({
    wireUrl: url,
    expectBuild: () => ({ buildId: 'b', strict: true }),
    blobs: new MemoryBlobStore(),
    credentials: { get: async () => ({ accessKeyId: 'A', secretAccessKey: 'S' }) },
    relay: async () => {
      throw new Error('no relay in this test');
    },
    onLog: () => undefined,
    logger: pino({ level: 'silent' }),
    retryMs: 10,
    dialWindowMs,
  });
}

function socketUrl(name: string): string {
  const d = mkdtempSync(join(tmpdir(), 'enclave-link-'));
  dirs.push(d);
  return `unix://${join(d, name)}`;
}

describe('EnclaveLink (parent-driven reconnection)', () => {
  it('waits for the enclave, redials after a drop and re-runs the handshake', async () => {
    const url = socketUrl('e.sock');
    const l = link(url);
    l.connect();
    await new Promise((r) => setTimeout(r, 60)); // no enclave yet: attempts fail and are retried
    expect(l.connected).toBe(false);
    expect(l.status().lastError).not.toBeNull();

    let generation = 0;
    const start = () =>
      Peer.listen(url, { role: 'enclave', buildId: 'b', keepaliveMs: 0, closeGraceMs: 50 }, (p) => {
        const g = ++generation;
        p.register('cosigner.v1.Control', { Status: async () => ({ state: `gen-${g}` }) });
      });
    let listener = await start();
    await l.waitConnected(5_000);
    expect(await l.control().Status!({})).toMatchObject({ state: 'gen-1' });
    const first = l.peer;

    // The enclave restarts: the old connection dies, the parent dials again.
    const dropped = new Promise((r) => l.once('disconnected', r));
    await listener.close();
    await dropped;
    expect(() => l.control()).toThrow(expect.objectContaining({ code: 'ERR_ENCLAVE_NOT_RUNNING' }));
    listener = await start();
    await new Promise((r) => l.once('connected', r));
    expect(l.peer).not.toBe(first);
    expect(await l.control().Status!({})).toMatchObject({ state: 'gen-2' });

    await l.disconnect();
    expect(l.connected).toBe(false);
    await listener.close();
  });

  it('with no enclave answering, waitConnected fails naming the last dial error', async () => {
    const l = link(socketUrl('none.sock'), 50);
    l.connect();
    await expect(l.waitConnected(300)).rejects.toMatchObject({ code: 'ERR_ENCLAVE_NOT_RUNNING', message: expect.stringContaining('last error') });
    await l.disconnect();
  });
});
