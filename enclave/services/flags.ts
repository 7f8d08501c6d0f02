// Runs in the enclave. Strict parsing of the enclave's command line (the contract with the parent
// daemon, documented at the top of enclave/main.ts and in docs/local-mode.md). The attestation mode
// is NOT a flag: it is fixed when the bundle is built; dev-only flags are refused by an NSM build.
import { parseArgs } from 'node:util';
import { CosignerError } from '../../proto/errors.ts';

/** Parsed, validated enclave options. */
export interface EnclaveFlags {
  readonly listen: string;
  readonly devCaDir: string | undefined;
  readonly local: boolean;
  readonly tlsCaFile: string | undefined;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  /** dev only: instance id for the development authority's PCR4 (its default when undefined). */
  readonly instanceId: string | undefined;
  readonly callback: { readonly timeoutMs?: number; readonly retryIntervalMs?: number; readonly retryTotalMs?: number; readonly clockSpeedup?: number };
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

function usage(message: string): CosignerError {
  return new CosignerError('ERR_USAGE', message);
}

function ms(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw usage(`${flag} must be a whole number of milliseconds`);
  const n = Number(value);
  if (n < min || n > max) throw usage(`${flag} must be between ${min} and ${max}`);
  return n;
}

/**
 * Parse argv (without node and the script). `mode` is the build's attestation mode: an NSM build
 * refuses --dev-ca, --local, --tls-ca, --instance-id and the callback schedule flags.
 */
export function parseEnclaveFlags(argv: readonly string[], mode: 'nsm' | 'dev'): EnclaveFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string' },
        'dev-ca': { type: 'string' },
        local: { type: 'boolean' },
        'tls-ca': { type: 'string' },
        'log-level': { type: 'string' },
        'instance-id': { type: 'string' },
        'callback-timeout-ms': { type: 'string' },
        'callback-retry-interval-ms': { type: 'string' },
        'callback-retry-total-ms': { type: 'string' },
        'callback-clock-speedup': { type: 'string' },
      },
    }));
  } catch (err) {
    throw usage((err as Error).message);
  }
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const listen = str('listen');
  if (!listen) throw usage('--listen <wire URL> is required (vsock://CID:PORT, unix:///path or tcp://127.0.0.1:PORT)');
  if (listen.length > 1024) throw usage('--listen is too long');
  const local = values.local === true;
  const devOnly = ['dev-ca', 'local', 'tls-ca', 'instance-id', 'callback-timeout-ms', 'callback-retry-interval-ms', 'callback-retry-total-ms', 'callback-clock-speedup'].filter(
    (k) => values[k] !== undefined,
  );
  if (mode === 'nsm' && devOnly.length > 0) {
    throw usage(`this is a production (NSM) build: ${devOnly.map((k) => `--${k}`).join(', ')} ${devOnly.length === 1 ? 'is' : 'are'} refused`);
  }
  const devCaDir = str('dev-ca');
  if (mode === 'dev' && !devCaDir) throw usage('a development build needs --dev-ca DIR (the development attestation authority)');
  const localOnly = ['tls-ca', 'callback-timeout-ms', 'callback-retry-interval-ms', 'callback-retry-total-ms', 'callback-clock-speedup'].filter((k) => values[k] !== undefined);
  if (!local && localOnly.length > 0) throw usage(`${localOnly.map((k) => `--${k}`).join(', ')} need --local`);
  const level = str('log-level') ?? 'info';
  if (!(LEVELS as readonly string[]).includes(level)) throw usage(`--log-level must be one of ${LEVELS.join(', ')}`);
  const instanceId = str('instance-id');
  if (instanceId !== undefined && !/^[A-Za-z0-9-]{1,64}$/.test(instanceId)) throw usage('--instance-id must be 1-64 letters, digits or dashes');
  const timeoutMs = ms(str('callback-timeout-ms'), '--callback-timeout-ms', 50, 30_000);
  const retryIntervalMs = ms(str('callback-retry-interval-ms'), '--callback-retry-interval-ms', 10, 3_600_000);
  const retryTotalMs = ms(str('callback-retry-total-ms'), '--callback-retry-total-ms', 10, 48 * 3_600_000);
  const clockSpeedup = ms(str('callback-clock-speedup'), '--callback-clock-speedup', 1, 1000);
  return {
    listen,
    devCaDir,
    local,
    tlsCaFile: str('tls-ca'),
    logLevel: level as EnclaveFlags['logLevel'],
    instanceId,
    callback: {
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(retryIntervalMs !== undefined ? { retryIntervalMs } : {}),
      ...(retryTotalMs !== undefined ? { retryTotalMs } : {}),
      ...(clockSpeedup !== undefined ? { clockSpeedup } : {}),
    },
  };
}
