// The daemon's control methods behind the operator CLI, through the real control socket and handler
// (parent/daemon/control-handler.ts): stop/restart (the enclave's SIGTERM handler still has the
// wire), checkEgress, listBackups, restoreBackup.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../../parent/control/client.ts';
import { startDaemon, type RunningDaemon } from '../../../parent/daemon/daemon.ts';
import { FileBlobStore } from '../../../parent/storage/file-blob-store.ts';
import { startTestDaemon, tempDir, testConfig } from './helpers.ts';

let daemon: RunningDaemon | null = null;
let client: ControlClient | null = null;
afterEach(async () => {
  client?.close();
  client = null;
  await daemon?.close();
  daemon = null;
});

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const goodbyes = async (c: ControlClient): Promise<number> =>
  ((await (c.request('logs', { n: 500 }) as Promise<{ lines: string[] }>)).lines).filter((l) => l.includes('fake enclave stopping on SIGTERM')).length;

describe('stop / restart', () => {
  it('stop signals the enclave while the wire is open: its SIGTERM handler\'s last record arrives', async () => {
    daemon = await startTestDaemon();
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', () => daemon!.link.connected);
    const pid = Number(daemon.supervisor.status().info.pid);
    expect((await (client.request('stop') as Promise<{ state: string }>)).state).toBe('stopped');
    expect(daemon.link.connected).toBe(false);
    // The record is sent from the SIGTERM handler over the wire: with the link closed first (GoAway)
    // it would have been refused.
    await until('the goodbye record', async () => (await goodbyes(client!)) === 1, 5000);
    expect(() => process.kill(pid, 0)).toThrow();
    // No redial is left running against the stopped enclave.
    await new Promise((r) => setTimeout(r, 400));
    expect(daemon.link.connected).toBe(false);
    expect(daemon.supervisor.status().state).toBe('stopped');
  });

  it('restart: the old enclave says goodbye, the new one is connected and serving', async () => {
    daemon = await startTestDaemon();
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', () => daemon!.link.connected);
    const pid = Number(daemon.supervisor.status().info.pid);
    expect((await (client.request('restart') as Promise<{ state: string }>)).state).toBe('running');
    await until('wire connection to the new enclave', () => daemon!.link.connected);
    expect(Number(daemon.supervisor.status().info.pid)).not.toBe(pid);
    expect((await (client.request('listUsers') as Promise<{ users: unknown[] }>)).users).toEqual([]);
    await until('the goodbye record', async () => (await goodbyes(client!)) === 1, 5000);
  });
});

describe('checkEgress', () => {
  it('answers from the relay\'s allow-list (case-insensitive host, exact port) and names the file', async () => {
    const dir = tempDir('cosd-egress-');
    const allowListPath = join(dir, 'allowlist.json');
    writeFileSync(allowListPath, JSON.stringify({ allowlist: [{ address: 'handler.example', port: 8443 }] }));
    daemon = await startTestDaemon({ allowListPath }, { startEnclave: false });
    client = await ControlClient.connect(daemon.controlSocketPath);
    expect(await client.request('checkEgress', { host: 'Handler.Example', port: 8443 })).toEqual({ allowed: true, allowListPath });
    expect(await client.request('checkEgress', { host: 'handler.example', port: 443 })).toEqual({ allowed: false, allowListPath });
    expect(await client.request('checkEgress', { host: 'other.example', port: 8443 })).toEqual({ allowed: false, allowListPath });
    // Checked against the protocol before the handler runs.
    await expect(client.request('checkEgress', { host: 'handler.example', port: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(client.request('checkEgress', { host: 'handler.example' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('without an allow-list nothing is allowed', async () => {
    daemon = await startTestDaemon({}, { startEnclave: false });
    client = await ControlClient.connect(daemon.controlSocketPath);
    expect(await client.request('checkEgress', { host: '127.0.0.1', port: 443 })).toMatchObject({ allowed: false });
  });
});

describe('listBackups / restoreBackup', () => {
  /** A daemon on a file store that holds three generations of secrets.db; the enclave not started. */
  async function withGenerations(start = false): Promise<{ store: FileBlobStore; home: string }> {
    const config = await testConfig();
    const store = await FileBlobStore.open(config.home);
    let gen = 0n;
    for (const v of ['one', 'two', 'three']) gen = await store.put('secrets.db', Buffer.from(v), gen);
    daemon = await startDaemon(config, { blobs: store, startEnclave: start, credentials: { get: async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 's', sessionToken: 't' }) } });
    client = await ControlClient.connect(daemon.controlSocketPath);
    return { store, home: config.home };
  }

  type View = { name: string; generation: string; current: boolean; newest: boolean; size: number };

  it('lists every generation, marking the current and the newest', async () => {
    await withGenerations();
    const { backups } = await (client!.request('listBackups') as Promise<{ backups: View[] }>);
    const db = backups.filter((b) => b.name === 'secrets.db');
    expect(db.length).toBeGreaterThanOrEqual(2);
    expect(db.filter((b) => b.newest)).toHaveLength(1);
    expect(db.find((b) => b.newest)).toMatchObject({ generation: '3', current: true });
  });

  it('restores the newest generation over a deleted db/ file, with the enclave stopped', async () => {
    const { store, home } = await withGenerations();
    const { backups } = await (client!.request('listBackups') as Promise<{ backups: View[] }>);
    const newest = backups.find((b) => b.name === 'secrets.db' && b.newest)!;
    rmSync(join(home, 'db', 'secrets.db'), { force: true });
    const r = await (client!.request('restoreBackup', { name: 'secrets.db', generation: newest.generation }) as Promise<{ restored: string; storeGeneration: string }>);
    expect(r.restored).toBe(newest.generation);
    expect(Buffer.from((await store.get('secrets.db'))!.data).toString()).toBe('three');
    expect(readFileSync(join(home, 'db', 'secrets.db')).length).toBeGreaterThan(0);
  });

  it('refuses an older generation (ERR_RESTORE_REFUSED), an unknown one (ERR_NOT_FOUND), a bad name, and any restore while the enclave runs', async () => {
    const { store } = await withGenerations();
    const { backups } = await (client!.request('listBackups') as Promise<{ backups: View[] }>);
    const older = backups.find((b) => b.name === 'secrets.db' && !b.newest);
    expect(older).toBeDefined();
    await expect(client!.request('restoreBackup', { name: 'secrets.db', generation: older!.generation })).rejects.toMatchObject({ code: 'ERR_RESTORE_REFUSED' });
    expect(Buffer.from((await store.get('secrets.db'))!.data).toString()).toBe('three');
    await expect(client!.request('restoreBackup', { name: 'secrets.db', generation: '99' })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(client!.request('restoreBackup', { name: '../db/x', generation: '3' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(client!.request('restoreBackup', { name: 'secrets.db', generation: '-1' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await client!.request('start');
    expect(daemon!.supervisor.status().state).toBe('running');
    await expect(client!.request('restoreBackup', { name: 'secrets.db', generation: '3' })).rejects.toMatchObject({ code: 'ERR_STATE' });
  });

  it('a daemon on another store says it keeps no backups', async () => {
    const config = await testConfig();
    const store = await FileBlobStore.open(config.home);
    const other = { get: store.get.bind(store), put: store.put.bind(store) } as unknown as FileBlobStore;
    daemon = await startDaemon(config, { blobs: other, startEnclave: false, credentials: { get: async () => ({ accessKeyId: 'A', secretAccessKey: 's', sessionToken: 't' }) } });
    client = await ControlClient.connect(daemon.controlSocketPath);
    await expect(client.request('listBackups')).rejects.toMatchObject({ code: 'ERR_NOT_IMPLEMENTED' });
  });
});
