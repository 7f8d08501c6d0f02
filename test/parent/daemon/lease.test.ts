import { afterEach, describe, expect, it } from 'vitest';
import { notReady } from '../../../parent/cli/lifecycle.ts';
import { renderStatus } from '../../../parent/cli/render.ts';
import { ControlClient } from '../../../parent/control/client.ts';
import type { RunningDaemon } from '../../../parent/daemon/daemon.ts';
import { guardBlobs } from '../../../parent/daemon/lease-runner.ts';
import { MemoryConditionalObjects } from '../../../parent/storage/conditional-objects.ts';
import { Lease } from '../../../parent/storage/lease.ts';
import { MemoryBlobStore } from '../../../parent/storage/memory-blob-store.ts';
import { startTestDaemon } from './helpers.ts';

const daemons: RunningDaemon[] = [];
const clients: ControlClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const d of daemons.splice(0)) await d.close();
});

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Status = { supervisor: { state: string }; lease: { role: string; holder: string | null; self: string; expiresAt: string | null; epoch: number | null } };
const LEASE = { bucket: 'test-bucket', objectKey: 'cosigner/lease.json', ttlMs: 3000 };

async function start(store: MemoryConditionalObjects): Promise<{ d: RunningDaemon; c: ControlClient; status(): Promise<Status> }> {
  const d = await startTestDaemon({ lease: LEASE }, { leaseStore: store });
  daemons.push(d);
  const c = await ControlClient.connect(d.controlSocketPath);
  clients.push(c);
  return { d, c, status: () => c.request('status') as Promise<Status> };
}

async function leaseGauge(d: RunningDaemon): Promise<number | undefined> {
  return (await d.metrics.leaseActive.get()).values[0]?.value;
}

describe('daemon with a lease (one active signer)', () => {
  it('the second daemon on the same store stays standby, and takes over when the first stops', async () => {
    const store = new MemoryConditionalObjects();
    const a = await start(store);
    await until('a active with its enclave', () => a.d.link.connected);
    expect(await a.status()).toMatchObject({ lease: { role: 'active', epoch: 1 } });
    expect(await leaseGauge(a.d)).toBe(1);

    const b = await start(store);
    await until('b saw the lease', async () => (await b.status()).lease.holder !== null);
    const sb = await b.status();
    expect(sb.lease).toMatchObject({ role: 'standby', holder: (await a.status()).lease.self });
    expect(sb.supervisor.state).toBe('stopped');
    expect(b.d.supervisor.handle).toBeNull();
    expect(await leaseGauge(b.d)).toBe(0);
    // `cosigner status` says which instance signs, and a standby's status is not "ready".
    expect(renderStatus(sb as never)).toContain(`lease      standby (${sb.lease.holder!} holds it until`);
    expect(renderStatus((await a.status()) as never)).toMatch(/lease {6}active \(this instance/);
    expect(notReady(sb as never)?.error.code).toBe('ERR_STATE');
    // A standby refuses to start an enclave, and forwards nothing.
    await expect(b.c.request('start')).rejects.toMatchObject({ code: 'ERR_STATE' });
    await expect(b.c.request('restart')).rejects.toMatchObject({ code: 'ERR_STATE' });
    await expect(b.c.request('listUsers')).rejects.toMatchObject({ code: 'ERR_ENCLAVE_NOT_RUNNING' });

    // A stops (releases the lease): B takes over without waiting out the TTL and starts its enclave.
    await a.d.close();
    await until('b active with its enclave', () => b.d.link.connected, 5000);
    expect(await b.status()).toMatchObject({ lease: { role: 'active', epoch: 2 }, supervisor: { state: 'running' } });
    expect(await leaseGauge(b.d)).toBe(1);
  });

  it('an active daemon that loses the lease stops its enclave at once', async () => {
    const store = new MemoryConditionalObjects();
    const a = await start(store);
    await until('a active with its enclave', () => a.d.link.connected);
    // Another instance replaced the lease object (e.g. it judged ours lapsed during a partition).
    const cur = (await store.get(LEASE.objectKey))!;
    await store.putIfMatch(LEASE.objectKey, Buffer.from(JSON.stringify({ v: 1, holder: 'other', epoch: 7, expiresAt: Date.now() + 60_000, ttlMs: 60_000, released: false })), cur.etag);
    // The next renewal (every TTL/3) finds the object changed.
    await until('a stood down', () => a.d.supervisor.state === 'stopped', 5000);
    expect(a.d.link.connected).toBe(false);
    expect(await a.status()).toMatchObject({ lease: { role: 'standby', holder: 'other', epoch: 7 } });
    expect(await leaseGauge(a.d)).toBe(0);
    await expect(a.c.request('listUsers')).rejects.toMatchObject({ code: 'ERR_ENCLAVE_NOT_RUNNING' });
  });

  it('without a lease configured the daemon is active as before', async () => {
    const d = await startTestDaemon();
    daemons.push(d);
    const c = await ControlClient.connect(d.controlSocketPath);
    clients.push(c);
    expect(await c.request('status')).toMatchObject({ lease: { role: 'active', configured: false } });
    expect(await leaseGauge(d)).toBe(1);
  });
});

describe('guardBlobs', () => {
  it('refuses blob writes while the lease is not held and passes them through while it is', async () => {
    const store = new MemoryConditionalObjects();
    let t = 0;
    const lease = new Lease({ store, key: 'k', holder: 'h', clock: { now: () => t }, ttlMs: 3000 });
    const blobs = guardBlobs(new MemoryBlobStore(), lease);
    await expect(blobs.put('secrets.db', Buffer.from('x'), 0n)).rejects.toMatchObject({ code: 'ERR_STATE' });
    expect(await blobs.get('secrets.db')).toBeNull();
    await lease.acquire();
    expect(await blobs.put('secrets.db', Buffer.from('x'), 0n)).toBe(1n);
    // The acting window closed (no renewal): writes are refused again.
    t += 3000;
    await expect(blobs.put('secrets.db', Buffer.from('y'), 1n)).rejects.toMatchObject({ code: 'ERR_STATE' });
  });
});
