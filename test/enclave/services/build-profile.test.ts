import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../proto/ports.ts';
import { loadBuildProfile, productionProfile } from '../../../enclave/services/build-profile.ts';

describe('build profile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cosigner-profile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('unbundled code (no define) is a development build', async () => {
    const p = await loadBuildProfile();
    expect(p.mode).toBe('dev');
    const flags = p.parseFlags(['--listen', 'unix:///x', '--dev-ca', join(dir, 'dev-ca'), '--local', '--callback-clock-speedup', '10']);
    expect(p.callbackClock(systemClock, flags)).not.toBe(systemClock);
    expect(p.callbackClock(systemClock, { ...flags, local: false })).toBe(systemClock);
    const attestor = await p.createAttestor(flags, new TextEncoder().encode('bundle'));
    expect(attestor.mode).toBe('dev');
  });

  it('the development profile reads --tls-ca and refuses a file that is not PEM', async () => {
    const p = await loadBuildProfile();
    const pem = join(dir, 'ca.pem');
    const bad = join(dir, 'bad.pem');
    await writeFile(pem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await writeFile(bad, 'not a certificate');
    const flags = p.parseFlags(['--listen', 'unix:///x', '--dev-ca', join(dir, 'dev-ca'), '--local', '--tls-ca', pem]);
    expect(await p.loadTlsCa(flags)).toContain('BEGIN CERTIFICATE');
    await expect(p.loadTlsCa({ ...flags, tlsCaFile: bad })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(p.loadTlsCa({ ...flags, tlsCaFile: join(dir, 'missing.pem') })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('the production profile has no development behaviour', async () => {
    expect(productionProfile.mode).toBe('nsm');
    expect(() => productionProfile.parseFlags(['--listen', 'unix:///x', '--dev-ca', dir])).toThrow(/production \(NSM\) build/);
    const flags = productionProfile.parseFlags(['--listen', 'unix:///x']);
    expect(await productionProfile.loadTlsCa({ ...flags, tlsCaFile: '/etc/hostname' })).toBeUndefined();
    expect(productionProfile.callbackClock(systemClock, { ...flags, local: true, callback: { clockSpeedup: 10 } })).toBe(systemClock);
  });
});
