import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callDaemon } from '../../../parent/control/client.ts';
import { testConfig } from './helpers.ts';

const bin = resolve(__dirname, '..', '..', '..', 'bin', 'cosigner-parent.mjs');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  children.length = 0;
});

function startBin(configPath: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [bin, '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((res, rej) => {
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('running')) res(child);
    });
    child.once('exit', (code) => rej(new Error(`exited ${code}: ${err}`)));
  });
}

async function until(fn: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out');
}

describe('bin/cosigner-parent.mjs', () => {
  it('exits 2 on an invalid config, naming the field', async () => {
    const c = await testConfig();
    const file = join(dirname(c.home), 'bad.json');
    writeFileSync(file, JSON.stringify({ mode: 'local', colour: 'blue' }));
    const r = spawnSync(process.execPath, [bin, '--config', file], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('ERR_CONFIG_INVALID');
    expect(r.stderr).toContain('colour');
  });

  it('after a SIGKILL, the next daemon stops the orphaned enclave and takes over', async () => {
    const c = await testConfig();
    const file = join(dirname(c.home), 'parent.json');
    writeFileSync(file, JSON.stringify({ ...c, enclaveArgs: [...c.enclaveArgs] }));
    const first = await startBin(file);
    type S = { wire: { connected: boolean }; supervisor: { info: { pid?: number } } };
    await until(async () => (await (callDaemon(c.controlSocket, 'status') as Promise<S>)).wire.connected);
    const orphan = Number(readFileSync(join(c.home, 'run', 'enclave.pid'), 'utf8'));
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(() => process.kill(orphan, 0)).not.toThrow(); // still alive: nothing reaped it

    await startBin(file);
    await until(async () => (await (callDaemon(c.controlSocket, 'status') as Promise<S>)).wire.connected);
    const st = await (callDaemon(c.controlSocket, 'status') as Promise<S>);
    expect(st.supervisor.info.pid).not.toBe(orphan);
    expect(() => process.kill(orphan, 0)).toThrow();
    expect(existsSync(join(c.home, 'run', 'enclave.pid'))).toBe(true);
  });
});
