import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const repo = resolve(__dirname, '..', '..', '..');
const fakeDir = join(repo, 'test', 'fixtures', 'fake-nitro-cli');

const states: string[] = [];
afterEach(() => {
  for (const dir of states.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('scripts/run-enclave.sh against the fake nitro-cli', () => {
  it('passes the EIF, CPU, memory and CID to nitro-cli run-enclave and prints its JSON', () => {
    const state = mkdtempSync(join(tmpdir(), 'runsh-'));
    states.push(state);
    const eif = join(state, 'c.eif');
    writeFileSync(eif, 'eif');
    const env = { ...process.env, PATH: `${fakeDir}:${process.env.PATH ?? ''}`, FAKE_NITRO_STATE: state, CPU_COUNT: '4', MEMORY_MIB: '2048', CID: '20' };
    const out = execFileSync('bash', [join(repo, 'scripts', 'run-enclave.sh'), eif], { env, encoding: 'utf8' });
    expect(JSON.parse(out)).toMatchObject({ EnclaveCID: 20, NumberOfCPUs: 4, MemoryMiB: 2048 });
    expect(readFileSync(join(state, 'calls.log'), 'utf8').trim()).toBe(`run-enclave --eif-path ${eif} --cpu-count 4 --memory 2048 --enclave-cid 20`);
  });

  it('fails clearly on a missing EIF and on a nitro-cli failure', () => {
    const state = mkdtempSync(join(tmpdir(), 'runsh-'));
    states.push(state);
    const env = { ...process.env, PATH: `${fakeDir}:${process.env.PATH ?? ''}`, FAKE_NITRO_STATE: state };
    const missing = spawnSync('bash', [join(repo, 'scripts', 'run-enclave.sh'), join(state, 'none.eif')], { env, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('build-eif.sh');
    const eif = join(state, 'c.eif');
    writeFileSync(eif, 'eif');
    const failing = spawnSync('bash', [join(repo, 'scripts', 'run-enclave.sh'), eif], { env: { ...env, FAKE_NITRO_FAIL: 'run-enclave' }, encoding: 'utf8' });
    expect(failing.status).not.toBe(0);
    expect(failing.stderr).toContain('Insufficient CPUs');
  });
});
