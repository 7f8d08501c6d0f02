// Runs on the parent. Entry point of `cosigner-parent` (bin/cosigner-parent.mjs):
//   cosigner-parent [--config /etc/cosigner/parent.json]
// Exits 0 on SIGTERM/SIGINT after stopping the enclave, 2 on a bad config, 75 (EX_TEMPFAIL) when the
// disk is full (ERR_DISK_FULL), 1 on any other start-up failure; systemd restarts it on any non-zero
// exit (scripts/cosigner-parent.service), so a full disk heals once space returns.
import { parseArgs } from 'node:util';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { loadConfig } from '../config/config.ts';
import { startDaemon } from './daemon.ts';

/** Exit code of a start-up that failed because the disk is full (sysexits' EX_TEMPFAIL: retry later). */
export const EXIT_DISK_FULL = 75;

/** A raw ENOSPC/EDQUOT from any start-up step is the disk-full condition, not an internal error. */
function startupError(err: unknown): CosignerError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (!(err instanceof CosignerError) && (code === 'ENOSPC' || code === 'EDQUOT')) {
    return new CosignerError('ERR_DISK_FULL', `disk full at start-up: ${(err as Error).message}`, { cause: err });
  }
  return toCosignerError(err);
}

/** Default config path. */
export const DEFAULT_CONFIG = '/etc/cosigner/parent.json';

export async function main(argv: string[]): Promise<number> {
  let configPath: string;
  try {
    const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      process.stdout.write('usage: cosigner-parent [--config FILE]   (default /etc/cosigner/parent.json or $COSIGNER_CONFIG; see docs/operations.md)\n');
      return 0;
    }
    configPath = values.config ?? process.env.COSIGNER_CONFIG ?? DEFAULT_CONFIG;
  } catch (err) {
    process.stderr.write(`cosigner-parent: ${(err as Error).message}\n`);
    return 2;
  }
  let daemon;
  try {
    const config = await loadConfig(configPath);
    daemon = await startDaemon(config);
  } catch (err) {
    const e = startupError(err);
    process.stderr.write(`cosigner-parent: ${e.code}: ${e.message}\n`);
    if (e.code === 'ERR_DISK_FULL') return EXIT_DISK_FULL;
    return e.code === 'ERR_CONFIG_INVALID' ? 2 : 1;
  }
  process.stderr.write(`cosigner-parent: running (${daemon.config.mode} mode), control socket ${daemon.controlSocketPath}${daemon.metricsUrl ? `, metrics ${daemon.metricsUrl}/metrics` : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await daemon.close();
  return 0;
}
