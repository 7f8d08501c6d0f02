import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/temp-dir.ts';
import { DEFAULT_HOME, loadConfig, parseConfig } from '../../../parent/config/config.ts';

describe('daemon config', () => {
  it('fills defaults for nitro mode', () => {
    const c = parseConfig({ mode: 'nitro', eifPath: '/opt/cosigner/cosigner.eif' });
    expect(c).toMatchObject({ home: DEFAULT_HOME, cid: 16, cpuCount: 2, memoryMiB: 1024, debug: false, wireUrl: 'vsock://16:5000', metricsAddress: '127.0.0.1:9464', queueLimit: 64, logKeep: 5 });
  });

  it('defaults local mode to a unix socket under COSIGNER_HOME', () => {
    const c = parseConfig({ mode: 'local', home: '/tmp/h' });
    expect(c.wireUrl).toBe('unix:///tmp/h/run/enclave.sock');
    expect(c.bundlePath).toMatch(/build\/enclave-dev\.mjs$/);
  });

  it.each([
    [{ mode: 'nitro', eifPath: '/x.eif', debugg: true }, 'debugg'],
    [{ mode: 'nitro' }, 'eifPath'],
    [{}, 'mode'],
    [{ mode: 'cloud' }, 'mode'],
    [{ mode: 'nitro', eifPath: '/x.eif', cid: 3 }, 'cid'],
    [{ mode: 'nitro', eifPath: '/x.eif', cpuCount: '2' }, 'cpuCount'],
    [{ mode: 'nitro', eifPath: '/x.eif', debug: 'yes' }, 'debug'],
    [{ mode: 'nitro', eifPath: '/x.eif', metricsAddress: '0.0.0.0:9464' }, 'metricsAddress'],
    [{ mode: 'nitro', eifPath: '/x.eif', wireUrl: 'unix:///tmp/e.sock' }, 'wireUrl'],
    [{ mode: 'local', wireUrl: 'tcp://10.0.0.1:5000' }, 'wireUrl'],
    [{ mode: 'local', queueLimit: 0 }, 'queueLimit'],
    [{ mode: 'local', restartInitialMs: 5000, restartMaxMs: 100 }, 'restartMaxMs'],
    [{ mode: 'local', controlSocket: `/${'x'.repeat(120)}` }, 'controlSocket'],
    [{ mode: 'local', enclaveArgs: ['--local', 3] }, 'enclaveArgs'],
  ])('rejects %j (field %s) with ERR_CONFIG_INVALID', (raw, field) => {
    expect(() => parseConfig(raw)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', details: { field } }));
  });

  it('rejects a non-object root', () => {
    expect(() => parseConfig([])).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('loads a file, resolving relative paths against its folder; bad JSON is ERR_CONFIG_INVALID', async () => {
    const dir = tempDir('cfg-');
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ mode: 'nitro', eifPath: 'images/c.eif', home: 'home' }));
    const c = await loadConfig(join(dir, 'p.json'));
    expect(c.eifPath).toBe(join(dir, 'images', 'c.eif'));
    expect(c.home).toBe(join(dir, 'home'));
    writeFileSync(join(dir, 'bad.json'), '{"mode": ');
    await expect(loadConfig(join(dir, 'bad.json'))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(loadConfig(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });
});

describe('daemon config: lease', () => {
  it('is absent by default (always active) and defaulted when given', () => {
    expect(parseConfig({ mode: 'local', home: '/tmp/h' }).lease).toBeUndefined();
    expect(parseConfig({ mode: 'local', home: '/tmp/h', lease: { bucket: 'my-bucket', objectKey: 'cosigner/lease.json' } }).lease).toEqual({ bucket: 'my-bucket', objectKey: 'cosigner/lease.json', ttlMs: 30_000, region: '', endpoint: '' });
  });

  it.each([
    [{ bucket: 'b-1', objectKey: 'k', ttl: 1 }, 'lease.ttl'],
    [{ bucket: 'b-1', objectKey: 'k', ttlMs: 1000 }, 'lease.ttlMs'],
    [{ bucket: 'b-1', objectKey: 'k', ttlMs: 600_000 }, 'lease.ttlMs'],
    [{ objectKey: 'k' }, 'lease.bucket'],
    [{ bucket: 'Not_A_Bucket', objectKey: 'k' }, 'lease.bucket'],
    [{ bucket: 'b-1' }, 'lease.objectKey'],
    [{ bucket: 'b-1', objectKey: '/abs' }, 'lease.objectKey'],
    [{ bucket: 'b-1', objectKey: 'k', endpoint: 'ftp://x' }, 'lease.endpoint'],
    ['yes', 'lease'],
  ])('refuses lease %j naming %s', (lease, field) => {
    expect(() => parseConfig({ mode: 'local', home: '/tmp/h', lease })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', details: { field } }));
  });
});
