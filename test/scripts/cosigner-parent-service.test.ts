// scripts/cosigner-parent.service: the sandbox keeps the daemon at "OK" exposure, and keeps what
// nitro-cli and the daemon need (the Nitro Enclaves device, vsock, the writable home).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..', '..');
const unitPath = join(repo, 'scripts', 'cosigner-parent.service');
const unit = readFileSync(unitPath, 'utf8');
const settings = unit.split('\n').filter((l) => /^[A-Z]\w*=/.test(l));
const values = (key: string): string[] => settings.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

const analyzer = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const haveAnalyzer = analyzer.status === 0;
if (!haveAnalyzer) console.log('cosigner-parent.service: systemd-analyze is not installed (apt-get install systemd); the exposure score test is skipped');

describe('scripts/cosigner-parent.service', () => {
  it.skipIf(!haveAnalyzer)('scores at most 4.0 ("OK") in systemd-analyze security', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitPath], { encoding: 'utf8', timeout: 30_000 });
    const m = /Overall exposure level for cosigner-parent\.service: (\d+\.\d+) (\w+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(4.0);
    expect(m![2]).toBe('OK');
  });

  it('runs with no capabilities and no way to gain any', () => {
    expect(values('CapabilityBoundingSet')).toEqual(['']);
    expect(values('AmbientCapabilities')).toEqual(['']);
    expect(values('NoNewPrivileges')).toEqual(['yes']);
  });

  it('allows only the devices and socket families the daemon and nitro-cli use', () => {
    expect(values('DevicePolicy')).toEqual(['closed']);
    expect(values('DeviceAllow').sort()).toEqual(['/dev/nitro_enclaves rw', '/dev/vsock rw']);
    expect(values('RestrictAddressFamilies')).toEqual(['AF_UNIX AF_INET AF_INET6 AF_VSOCK']);
    expect(values('SystemCallFilter')[0]).toBe('@system-service');
  });

  it('makes the system read-only except the home and nitro-cli\'s folders', () => {
    expect(values('ProtectSystem')).toEqual(['strict']);
    expect(values('ReadWritePaths')).toEqual(['/databases/cosigner /var/log/nitro_enclaves /run/nitro_enclaves']);
    expect(values('ProtectHome')).toEqual(['yes']);
    expect(values('PrivateTmp')).toEqual(['yes']);
  });

  it('leaves MemoryDenyWriteExecute off (V8 JIT) and starts the release layout', () => {
    expect(values('MemoryDenyWriteExecute')).toEqual([]);
    expect(values('ExecStart')).toEqual(['/usr/bin/node /opt/nitro-cosigner/bin/cosigner-parent --config /etc/cosigner/parent.json']);
  });
});
