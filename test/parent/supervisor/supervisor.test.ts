import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { nitroBackend, localBackend } from '../../../parent/supervisor/backends.ts';
import { NitroCli } from '../../../parent/supervisor/nitro-cli.ts';
import { Supervisor, backoffDelay } from '../../../parent/supervisor/supervisor.ts';

const fakeDir = resolve(__dirname, '..', '..', 'fixtures', 'fake-nitro-cli');
const fakeBin = join(fakeDir, 'nitro-cli');
let state: string;
let eif: string;
const savedEnv = { ...process.env };

beforeEach(() => {
  state = mkdtempSync(join(tmpdir(), 'fake-nitro-'));
  eif = join(state, 'cosigner.eif');
  writeFileSync(eif, 'not really an eif');
  process.env.FAKE_NITRO_STATE = state;
  process.env.PATH = `${fakeDir}:${savedEnv.PATH ?? ''}`;
});
afterEach(() => {
  process.env = { ...savedEnv };
  rmSync(state, { recursive: true, force: true });
});

const enclaves = (): Array<{ EnclaveID: string; State: string; Flags: string }> => JSON.parse(readFileSync(join(state, 'enclaves.json'), 'utf8'));
const calls = (): string[] => readFileSync(join(state, 'calls.log'), 'utf8').trim().split('\n');

function makeSupervisor(opts: { debug?: boolean; onConsole?: (l: string) => void } = {}): Supervisor {
  const backend = nitroBackend({ cpuCount: 2, memoryMiB: 512, cid: 16, debug: opts.debug ?? false, healthIntervalMs: 100, ...(opts.onConsole ? { onConsole: opts.onConsole } : {}) });
  return new Supervisor({ backend, image: eif, restartInitialMs: 10, restartMaxMs: 40 });
}

describe('backoff', () => {
  it('doubles from the initial delay and stays under the cap', () => {
    expect([0, 1, 2, 3, 10, 100].map((a) => backoffDelay(a, 100, 1000))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});

describe('NitroCli against the fake nitro-cli', () => {
  it('runs, describes and terminates an enclave with the documented flags', async () => {
    const cli = new NitroCli(fakeBin);
    const r = await cli.runEnclave({ eifPath: eif, cpuCount: 2, memoryMiB: 512, cid: 16, debug: true });
    expect(r.EnclaveCID).toBe(16);
    expect(calls()[0]).toBe(`run-enclave --eif-path ${eif} --cpu-count 2 --memory 512 --enclave-cid 16 --debug-mode`);
    const list = await cli.describeEnclaves();
    expect(list.map((e) => [e.EnclaveID, e.State, e.Flags])).toEqual([[r.EnclaveID, 'RUNNING', 'DEBUG_MODE']]);
    await cli.terminateEnclave(r.EnclaveID);
    expect(await cli.describeEnclaves()).toEqual([]);
  });

  it('turns a failing command into ERR_NITRO_CLI with its stderr', async () => {
    process.env.FAKE_NITRO_FAIL = 'run-enclave';
    const err = await new NitroCli(fakeBin).runEnclave({ eifPath: eif, cpuCount: 2, memoryMiB: 512, cid: 16, debug: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CosignerError);
    expect((err as CosignerError).code).toBe('ERR_NITRO_CLI');
    expect((err as CosignerError).message).toContain('Insufficient CPUs');
  });

  it('reports a missing nitro-cli binary as ERR_NITRO_CLI', async () => {
    const err = await new NitroCli(join(state, 'no-such-nitro-cli')).describeEnclaves().catch((e: unknown) => e);
    expect((err as CosignerError).code).toBe('ERR_NITRO_CLI');
    expect((err as CosignerError).message).toContain('not installed');
  });

  it('rejects output that is not the documented JSON', async () => {
    const bad = join(state, 'bad-cli');
    writeFileSync(bad, '#!/bin/sh\necho "hello"\n', { mode: 0o755 });
    const err = await new NitroCli(bad).describeEnclaves().catch((e: unknown) => e);
    expect((err as CosignerError).code).toBe('ERR_NITRO_CLI');
  });
});

describe('Supervisor (nitro backend, fake nitro-cli)', () => {
  it('starts, stops, and terminates a stale enclave on the same CID first', async () => {
    const cli = new NitroCli(fakeBin);
    const stale = await cli.runEnclave({ eifPath: eif, cpuCount: 2, memoryMiB: 512, cid: 16, debug: false });
    const sup = makeSupervisor();
    await sup.start();
    expect(sup.state).toBe('running');
    const ids = enclaves().map((e) => e.EnclaveID);
    expect(ids).toHaveLength(1);
    expect(ids[0]).not.toBe(stale.EnclaveID);
    await sup.stop();
    expect(sup.state).toBe('stopped');
    expect(enclaves()).toEqual([]);
  });

  it('restarts a crashed enclave with backoff', async () => {
    const sup = makeSupervisor();
    await sup.start();
    const first = sup.status().enclaveId;
    const restarted = once(sup, 'started');
    await cli__crash();
    const [h] = (await restarted) as [{ id: string }];
    expect(h.id).not.toBe(first);
    expect(sup.status().restarts).toBe(1);
    expect(sup.status().lastExit).toContain('no longer listed');
    await sup.stop();
  });

  it('surfaces run-enclave failures as ERR_NITRO_CLI and keeps retrying until it works', async () => {
    writeFileSync(join(state, 'fail'), 'run-enclave');
    const sup = makeSupervisor();
    const errors: CosignerError[] = [];
    sup.on('error', (e: CosignerError) => errors.push(e));
    await expect(sup.start()).rejects.toMatchObject({ code: 'ERR_NITRO_CLI' });
    expect(sup.state).toBe('restarting');
    expect(sup.status().lastError?.code).toBe('ERR_NITRO_CLI');
    const started = once(sup, 'started');
    writeFileSync(join(state, 'fail'), '');
    await started;
    expect(sup.state).toBe('running');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    await sup.stop();
  });

  it('fails the stop with ERR_NITRO_CLI when terminate-enclave fails', async () => {
    const sup = makeSupervisor();
    await sup.start();
    writeFileSync(join(state, 'fail'), 'terminate-enclave');
    sup.on('error', () => undefined);
    await expect(sup.stop()).rejects.toMatchObject({ code: 'ERR_NITRO_CLI' });
    expect(sup.state).toBe('failed');
    writeFileSync(join(state, 'fail'), '');
  });

  it('captures the console of a debug-mode enclave', async () => {
    const lines: string[] = [];
    const sup = makeSupervisor({ debug: true, onConsole: (l) => lines.push(l) });
    await sup.start();
    for (let i = 0; i < 200 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(lines.join('\n')).toContain('nitro-cosigner enclave booting');
    await sup.stop();
  });
});

describe('Supervisor (local backend)', () => {
  it('restarts a child process that exits and stops it on request', async () => {
    const script = join(state, 'enclave.mjs');
    // Exits on its own the first time (a crash), then stays up.
    writeFileSync(script, `import fs from 'node:fs'; const f=${JSON.stringify(join(state, 'ran'))}; console.log('enclave up', process.argv.slice(2).join(' ')); if (!fs.existsSync(f)) { fs.writeFileSync(f,'1'); process.exit(3); } setInterval(()=>{}, 1000);`);
    const lines: string[] = [];
    const sup = new Supervisor({ backend: localBackend({ wireUrl: 'unix:///tmp/x.sock', args: ['--local'], onConsole: (l) => lines.push(l) }), image: script, restartInitialMs: 10, restartMaxMs: 20 });
    const second = new Promise<void>((res) => sup.on('restart', () => res()));
    await sup.start();
    await second;
    await once(sup, 'started');
    expect(sup.status().lastExit).toContain('code 3');
    expect(lines[0]).toBe('enclave up --listen unix:///tmp/x.sock --local');
    await sup.stop();
    expect(sup.state).toBe('stopped');
  });
});

describe('local backend stale-enclave clean-up', () => {
  it('never kills a process that is not our enclave, even if the pid file names it', async () => {
    const { spawn } = await import('node:child_process');
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(other, 'spawn');
    const pidFile = join(state, 'enclave.pid');
    writeFileSync(pidFile, String(other.pid));
    try {
      await localBackend({ wireUrl: `unix://${join(state, 'e.sock')}`, args: [], pidFile }).cleanupStale();
      expect(() => process.kill(other.pid!, 0)).not.toThrow();
    } finally {
      other.kill('SIGKILL');
    }
  });
});

async function cli__crash(): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  execFileSync(fakeBin, ['__crash']);
}
