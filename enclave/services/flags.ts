// Runs in the enclave. Strict parsing of the production enclave's command line (the contract with the
// parent daemon, documented at the top of enclave/main.ts and in docs/local-mode.md). The attestation
// mode is NOT a flag: it is fixed when the bundle is built. A production (NSM) build knows only
// --listen and --log-level; the development flags are parsed by enclave/dev/dev-flags.ts, which the
// production bundle does not contain, so they are refused there as unknown options.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CosignerError } from '../../proto/errors.ts';

/** Parsed, validated enclave options (a production build leaves the development fields empty). */
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

/** The options every build accepts. */
export const COMMON_OPTIONS = {
  listen: { type: 'string' },
  'log-level': { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Parsed flag values, keyed by option name. */
export type FlagValues = Record<string, string | boolean | undefined>;

export function usage(message: string): CosignerError {
  return new CosignerError('ERR_USAGE', message);
}

/**
 * parseArgs in strict mode over `options`; every parse failure is ERR_USAGE. `unknownPrefix` is put
 * in front of the message of an unknown-option error (the production build says why it refuses).
 */
export function parseStrict(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>, unknownPrefix = ''): FlagValues {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values as FlagValues;
  } catch (err) {
    const unknown = (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    throw usage(`${unknown ? unknownPrefix : ''}${(err as Error).message}`);
  }
}

/** Validates the options every build shares. */
export function commonFlags(values: FlagValues): Pick<EnclaveFlags, 'listen' | 'logLevel'> {
  const listen = typeof values.listen === 'string' ? values.listen : undefined;
  if (!listen) throw usage('--listen <wire URL> is required (vsock://CID:PORT, unix:///path or tcp://127.0.0.1:PORT)');
  if (listen.length > 1024) throw usage('--listen is too long');
  const raw = values['log-level'];
  const level = typeof raw === 'string' ? raw : 'info';
  if (!(LEVELS as readonly string[]).includes(level)) throw usage(`--log-level must be one of ${LEVELS.join(', ')}`);
  return { listen, logLevel: level as EnclaveFlags['logLevel'] };
}

/** Parse a production (NSM) build's argv (without node and the script): --listen and --log-level only. */
export function parseProductionFlags(argv: readonly string[]): EnclaveFlags {
  const values = parseStrict(argv, COMMON_OPTIONS, 'this is a production (NSM) build: ');
  return { ...commonFlags(values), devCaDir: undefined, local: false, tlsCaFile: undefined, instanceId: undefined, callback: {} };
}
