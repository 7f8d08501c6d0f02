import { describe, expect, it } from 'vitest';
import { parseDevFlags } from '../../../enclave/dev/dev-flags.ts';

function usageError(argv: string[]): string {
  try {
    parseDevFlags(argv);
  } catch (err) {
    expect((err as { code: string }).code).toBe('ERR_USAGE');
    return (err as Error).message;
  }
  throw new Error('expected ERR_USAGE');
}

describe('development enclave flags', () => {
  it('parses a local development command line', () => {
    const f = parseDevFlags([
      '--listen', 'unix:///tmp/e.sock', '--dev-ca', '/tmp/dev-ca', '--local', '--tls-ca', '/tmp/ca.pem',
      '--callback-timeout-ms', '500', '--callback-retry-interval-ms', '100', '--callback-retry-total-ms', '1000', '--callback-clock-speedup', '20',
    ]);
    expect(f).toMatchObject({ listen: 'unix:///tmp/e.sock', devCaDir: '/tmp/dev-ca', local: true, tlsCaFile: '/tmp/ca.pem', logLevel: 'info', instanceId: undefined });
    expect(f.callback).toEqual({ timeoutMs: 500, retryIntervalMs: 100, retryTotalMs: 1000, clockSpeedup: 20 });
    expect(parseDevFlags(['--listen', 'unix:///x', '--dev-ca', '/d', '--instance-id', 'i-1'])).toMatchObject({ local: false, instanceId: 'i-1', callback: {} });
  });

  it('rejects unknown, missing and out-of-range flags', () => {
    expect(usageError([])).toMatch(/--listen/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--mode', 'dev'])).toMatch(/mode/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--mode', 'dev'])).not.toMatch(/production/);
    expect(usageError(['--listen', 'unix:///x'])).toMatch(/--dev-ca/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--tls-ca', '/c'])).toMatch(/need --local/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--callback-clock-speedup', '2'])).toMatch(/need --local/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--local', '--callback-timeout-ms', '5'])).toMatch(/between/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--local', '--callback-timeout-ms', '1e3'])).toMatch(/whole number/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--local', '--callback-clock-speedup', '1001'])).toMatch(/between/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--log-level', 'loud'])).toMatch(/log-level/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', 'extra'])).toBeTruthy();
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--instance-id', 'bad id'])).toMatch(/instance-id/);
  });
});
