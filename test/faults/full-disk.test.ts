// Fault case: `home` on a full filesystem. The daemon must keep running (and keep its enclave
// tracked) while log writes fail, report the failures, keep audit records until space returns, leave
// no truncated line, and a daemon that cannot start on a full disk exits with ERR_DISK_FULL.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../parent/control/client.ts';
import type { RunningDaemon } from '../../parent/daemon/daemon.ts';
import { EXIT_DISK_FULL } from '../../parent/daemon/main.ts';
import { startTestDaemon, tempDir, testConfig } from '../parent/daemon/helpers.ts';
import { enclaveProcesses, fill, free, mountTmpfs, unmount } from './tmpfs.ts';

const bin = resolve(__dirname, '..', '..', 'bin', 'cosigner-parent.mjs');
const root = tempDir('full-disk-');
const mnt = join(root, 'home');
// A second filesystem with almost no inodes: not even the daemon's folders can be created.
const noInodes = join(root, 'no-inodes');
let skip: string | null = null;
beforeAll(() => {
  skip = mountTmpfs(mnt, 1024) ?? mountTmpfs(noInodes, 1024, 'nr_inodes=2');
  if (skip) console.warn(`test/faults/full-disk: skipped: ${skip}`);
});
afterAll(() => {
  unmount(mnt);
  unmount(noInodes);
});

let daemon: RunningDaemon | null = null;
let client: ControlClient | null = null;
afterEach(async () => {
  client?.close();
  client = null;
  await daemon?.close();
  daemon = null;
});

async function until(what: string, fn: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Status = {
  supervisor: { state: string; info: { pid?: number } };
  wire: { connected: boolean };
  log: { writeFailures: number; failing: boolean; dropped: number; lastError: string | null; note?: string };
};

describe('home on a full filesystem (tmpfs)', () => {
  it('keeps the daemon and its enclave running while log writes fail, then recovers the log', async (ctx) => {
    if (skip) return ctx.skip();
    daemon = await startTestDaemon({ home: join(mnt, 'a') });
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', async () => (await (client!.request('status') as Promise<Status>)).wire.connected);
    const filler = fill(mnt);
    // The live log's last page still has room: fill it so the next records really fail.
    for (let i = 0; i < 100; i++) daemon.logger.info({ pad: 'x'.repeat(200) }, 'padding');

    // Every control request logs; a restart logs from the supervisor and the wire's catch blocks.
    await client.request('restart', {}, 30_000);
    await until('reconnected after restart', async () => (await (client!.request('status') as Promise<Status>)).wire.connected);
    daemon.logger.info({ audit: true, event: 'test.audit' }, 'audit record while the disk is full');
    const st = await (client.request('status') as Promise<Status>);
    expect(st.supervisor.state).toBe('running');
    expect(st.log.failing).toBe(true);
    expect(st.log.lastError).toBe('ENOSPC');
    expect(st.log.writeFailures).toBeGreaterThan(0);
    expect(st.log.note).toContain('ENOSPC');
    const metrics = await (await fetch(`${daemon.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/cosigner_log_write_failures_total\{code="ENOSPC"\} [1-9]/);

    free(filler);
    daemon.logger.info('space is back');
    const lines = readFileSync(join(daemon.config.home, 'log', 'cosigner.log'), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    const recs = lines.map((l) => JSON.parse(l) as { msg?: string; event?: string; dropped?: number });
    const audit = recs.findIndex((r) => r.event === 'test.audit');
    const note = recs.findIndex((r) => r.msg === 'log records lost while the log could not be written');
    expect(audit).toBeGreaterThanOrEqual(0);
    expect(note).toBeGreaterThan(audit);
    expect(recs[note]!.dropped).toBeGreaterThan(0);
    expect(recs.at(-1)!.msg).toBe('space is back');
    expect((await (client.request('status') as Promise<Status>)).log.failing).toBe(false);
  });

  it('a daemon started on a full disk runs or exits, and never leaves a stray enclave', async (ctx) => {
    if (skip) return ctx.skip();
    const c = await testConfig({ home: join(mnt, 'b') });
    const file = join(tempDir('full-disk-cfg-'), 'parent.json');
    writeFileSync(file, JSON.stringify({ ...c, enclaveArgs: [...c.enclaveArgs] }));
    const filler = fill(mnt);
    const child = spawn(process.execPath, [bin, '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      // Long enough for several enclave restart attempts (restartMaxMs is 200 ms in tests).
      let most = 0;
      for (let i = 0; i < 60 && child.exitCode === null; i++) {
        most = Math.max(most, enclaveProcesses(c.wireUrl).length);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(most).toBeLessThanOrEqual(1);
      if (child.exitCode === null) {
        expect(stderr).toContain('running');
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      } else {
        expect(stderr).toContain('ERR_DISK_FULL');
        expect(await exited).toBe(EXIT_DISK_FULL);
      }
      await until('no enclave after the daemon stopped', async () => enclaveProcesses(c.wireUrl).length === 0, 8000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const pid of enclaveProcesses(c.wireUrl)) process.kill(pid, 'SIGKILL');
      free(filler);
    }
  });

  it('a daemon that cannot create its folders exits with ERR_DISK_FULL (exit code 75), not ERR_INTERNAL', async (ctx) => {
    if (skip) return ctx.skip();
    const c = await testConfig({ home: join(noInodes, 'home') });
    const file = join(tempDir('full-disk-cfg-'), 'parent.json');
    writeFileSync(file, JSON.stringify({ ...c, enclaveArgs: [...c.enclaveArgs] }));
    const r = spawnSync(process.execPath, [bin, '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toContain('ERR_DISK_FULL');
    expect(r.status).toBe(EXIT_DISK_FULL);
  });
});
