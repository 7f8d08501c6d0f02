import { describe, expect, it } from 'vitest';
import { parseEnclaveFlags } from '../../../enclave/services/flags.ts';

function usageError(argv: string[], mode: 'nsm' | 'dev'): string {
  try {
    parseEnclaveFlags(argv, mode);
  } catch (err) {
    expect((err as { code: string }).code).toBe('ERR_USAGE');
    return (err as Error).message;
  }
  throw new Error('expected ERR_USAGE');
}

describe('enclave flags', () => {
  it('parses a local development command line', () => {
    const f = parseEnclaveFlags(
      ['--listen', 'unix:///tmp/e.sock', '--dev-ca', '/tmp/dev-ca', '--local', '--tls-ca', '/tmp/ca.pem', '--callback-timeout-ms', '500', '--callback-retry-interval-ms', '100', '--callback-retry-total-ms', '1000'],
      'dev',
    );
    expect(f).toMatchObject({ listen: 'unix:///tmp/e.sock', devCaDir: '/tmp/dev-ca', local: true, tlsCaFile: '/tmp/ca.pem', logLevel: 'info', instanceId: undefined });
    expect(f.callback).toEqual({ timeoutMs: 500, retryIntervalMs: 100, retryTotalMs: 1000 });
  });

  it('a production build accepts only --listen and --log-level', () => {
    expect(parseEnclaveFlags(['--listen', 'vsock://4294967295:5000', '--log-level', 'warn'], 'nsm')).toMatchObject({ local: false, devCaDir: undefined, logLevel: 'warn' });
    expect(usageError(['--listen', 'vsock://3:5000', '--dev-ca', '/x'], 'nsm')).toMatch(/production.*--dev-ca/);
    expect(usageError(['--listen', 'vsock://3:5000', '--local'], 'nsm')).toMatch(/--local/);
    expect(usageError(['--listen', 'vsock://3:5000', '--instance-id', 'i-1'], 'nsm')).toMatch(/--instance-id/);
  });

  it('rejects unknown, missing and out-of-range flags', () => {
    expect(usageError([], 'dev')).toMatch(/--listen/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--mode', 'dev'], 'dev')).toMatch(/mode/);
    expect(usageError(['--listen', 'unix:///x'], 'dev')).toMatch(/--dev-ca/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--tls-ca', '/c'], 'dev')).toMatch(/need --local/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--local', '--callback-timeout-ms', '5'], 'dev')).toMatch(/between/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--local', '--callback-timeout-ms', '1e3'], 'dev')).toMatch(/whole number/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--log-level', 'loud'], 'dev')).toMatch(/log-level/);
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', 'extra'], 'dev')).toBeTruthy();
    expect(usageError(['--listen', 'unix:///x', '--dev-ca', '/d', '--instance-id', 'bad id'], 'dev')).toMatch(/instance-id/);
  });
});
