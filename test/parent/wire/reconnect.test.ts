import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Peer } from '../../../proto/runtime/peer.ts';
import { EnclaveConnection } from '../../../parent/wire/reconnect.ts';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'reconn-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('EnclaveConnection (parent-driven reconnection)', () => {
  it('waits for the enclave, reconnects after a drop and re-runs the handshake', async () => {
    const url = `unix://${join(tempDir(), 'e.sock')}`;
    const conn = new EnclaveConnection(url, { role: 'parent', buildId: 'b', keepaliveMs: 0, closeGraceMs: 50 }, { minMs: 5, maxMs: 20 });
    const failures: string[] = [];
    conn.on('attempt-failed', (e) => failures.push(e.code));
    await new Promise((r) => setTimeout(r, 40)); // no enclave yet: attempts fail and back off
    expect(failures.length).toBeGreaterThan(0);
    expect(new Set(failures)).toEqual(new Set(['ERR_UNAVAILABLE']));

    const enclaves: Peer[] = [];
    const start = (): Promise<{ close(): Promise<void> }> => Peer.listen(url, { role: 'enclave', buildId: 'b', keepaliveMs: 0, closeGraceMs: 50 }, (p) => {
      p.register('cosigner.v1.Enclave', { Health: async () => ({ state: `gen-${enclaves.length}` }) });
      enclaves.push(p);
    });
    let listener = await start();
    const first = await conn.waitConnected(2000);
    expect(await first.client('cosigner.v1.Enclave').Health({})).toMatchObject({ state: 'gen-1' });

    // The enclave restarts: the old connection dies, the parent dials again.
    const dropped = new Promise((r) => conn.once('disconnected', r));
    await listener.close();
    await dropped;
    listener = await start();
    const second = await new Promise<Peer>((r) => conn.once('connected', r));
    expect(second).not.toBe(first);
    expect(await second.client('cosigner.v1.Enclave').Health({})).toMatchObject({ state: 'gen-2' });

    await conn.stop();
    await listener.close();
  });

  it('gives up after maxAttempts when asked to', async () => {
    const url = `unix://${join(tempDir(), 'none.sock')}`;
    const conn = new EnclaveConnection(url, { role: 'parent', buildId: 'b', keepaliveMs: 0 }, { minMs: 1, maxMs: 2, maxAttempts: 3 });
    const err = await new Promise((r) => conn.once('gave-up', r));
    expect(err).toMatchObject({ code: 'ERR_UNAVAILABLE' });
    await conn.stop();
    await expect(conn.waitConnected(10)).rejects.toMatchObject({ code: 'ERR_ENCLAVE_NOT_RUNNING' });
  });
});
