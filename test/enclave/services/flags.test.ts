import { describe, expect, it } from 'vitest';
import { parseProductionFlags } from '../../../enclave/services/flags.ts';

function usageError(argv: string[]): string {
  try {
    parseProductionFlags(argv);
  } catch (err) {
    expect((err as { code: string }).code).toBe('ERR_USAGE');
    return (err as Error).message;
  }
  throw new Error('expected ERR_USAGE');
}

describe('production enclave flags', () => {
  it('a production build accepts only --listen and --log-level', () => {
    expect(parseProductionFlags(['--listen', 'vsock://4294967295:5000', '--log-level', 'warn'])).toEqual({
      listen: 'vsock://4294967295:5000',
      logLevel: 'warn',
      devCaDir: undefined,
      local: false,
      tlsCaFile: undefined,
      instanceId: undefined,
      callback: {},
    });
    expect(parseProductionFlags(['--listen', 'vsock://3:5000']).logLevel).toBe('info');
  });

  it('refuses every development flag as unknown, saying it is a production build', () => {
    expect(usageError(['--listen', 'vsock://3:5000', '--dev-ca', '/x'])).toMatch(/production \(NSM\) build.*--dev-ca/);
    expect(usageError(['--listen', 'vsock://3:5000', '--local'])).toMatch(/production.*--local/);
    expect(usageError(['--listen', 'vsock://3:5000', '--instance-id', 'i-1'])).toMatch(/production.*--instance-id/);
    expect(usageError(['--listen', 'vsock://3:5000', '--callback-clock-speedup', '10'])).toMatch(/production.*--callback-clock-speedup/);
  });

  it('rejects missing, malformed and positional arguments', () => {
    expect(usageError([])).toMatch(/--listen/);
    expect(usageError(['--listen', 'x'.repeat(1025)])).toMatch(/too long/);
    expect(usageError(['--listen', 'unix:///x', '--log-level', 'loud'])).toMatch(/log-level/);
    expect(usageError(['--listen', 'unix:///x', 'extra'])).not.toMatch(/production/);
  });
});
