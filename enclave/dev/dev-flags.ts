// Runs in the enclave, development builds only (never in the production bundle; see
// enclave/services/build-profile.ts). Strict parsing of the development enclave's command line: the
// production options (enclave/services/flags.ts) plus the local-mode flags documented at the top of
// enclave/main.ts and in docs/local-mode.md.
import { COMMON_OPTIONS, commonFlags, parseStrict, usage, type EnclaveFlags } from '../services/flags.ts';

const DEV_OPTIONS = {
  ...COMMON_OPTIONS,
  'dev-ca': { type: 'string' },
  local: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'instance-id': { type: 'string' },
  'callback-timeout-ms': { type: 'string' },
  'callback-retry-interval-ms': { type: 'string' },
  'callback-retry-total-ms': { type: 'string' },
  'callback-clock-speedup': { type: 'string' },
} as const;

/** Flags that only make sense with --local (stand-in services, shortened schedules). */
const LOCAL_ONLY = ['tls-ca', 'callback-timeout-ms', 'callback-retry-interval-ms', 'callback-retry-total-ms', 'callback-clock-speedup'] as const;

function ms(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw usage(`${flag} must be a whole number of milliseconds`);
  const n = Number(value);
  if (n < min || n > max) throw usage(`${flag} must be between ${min} and ${max}`);
  return n;
}

/** Parse a development build's argv (without node and the script). --dev-ca is required. */
export function parseDevFlags(argv: readonly string[]): EnclaveFlags {
  const values = parseStrict(argv, DEV_OPTIONS);
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const common = commonFlags(values);
  const local = values.local === true;
  const devCaDir = str('dev-ca');
  if (!devCaDir) throw usage('a development build needs --dev-ca DIR (the development attestation authority)');
  const localOnly = LOCAL_ONLY.filter((k) => values[k] !== undefined);
  if (!local && localOnly.length > 0) throw usage(`${localOnly.map((k) => `--${k}`).join(', ')} need --local`);
  const instanceId = str('instance-id');
  if (instanceId !== undefined && !/^[A-Za-z0-9-]{1,64}$/.test(instanceId)) throw usage('--instance-id must be 1-64 letters, digits or dashes');
  const timeoutMs = ms(str('callback-timeout-ms'), '--callback-timeout-ms', 50, 30_000);
  const retryIntervalMs = ms(str('callback-retry-interval-ms'), '--callback-retry-interval-ms', 10, 3_600_000);
  const retryTotalMs = ms(str('callback-retry-total-ms'), '--callback-retry-total-ms', 10, 48 * 3_600_000);
  const clockSpeedup = ms(str('callback-clock-speedup'), '--callback-clock-speedup', 1, 1000);
  return {
    ...common,
    devCaDir,
    local,
    tlsCaFile: str('tls-ca'),
    instanceId,
    callback: {
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(retryIntervalMs !== undefined ? { retryIntervalMs } : {}),
      ...(retryTotalMs !== undefined ? { retryTotalMs } : {}),
      ...(clockSpeedup !== undefined ? { clockSpeedup } : {}),
    },
  };
}
