// Runs on the parent (the `cosigner` CLI). Output, exit codes and "what to do next" hints. Every
// command goes through here so human and `--json` output stay consistent.
import { CosignerError, toCosignerError, type ErrorCode } from '../../proto/errors.ts';
import { HINTS } from './hints.ts';

/** Exit codes of `cosigner` (documented in docs/operations.md; test/parent/cli/exit-codes.test.ts). */
export const EXIT = {
  OK: 0,
  /** The operation failed (the daemon or the enclave said no, or something broke). */
  FAILURE: 1,
  /** Bad command line or value, or a required flag missing in non-interactive use. */
  USAGE: 2,
  /** The daemon's control socket cannot be reached. */
  UNREACHABLE: 3,
  /** Temporarily unavailable: the enclave is not running/connected, the daemon is busy. Retry later. */
  UNAVAILABLE: 4,
  /** Refused for safety: upgrade refused or rolled back, restore of an older generation refused. */
  REFUSED: 5,
  /** The enclave runs but the co-signer cannot sign: not set up, sealed, unseal failed, rollback, no coordinator. */
  CANNOT_SIGN: 6,
} as const;

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** stdin is a terminal, so prompting is allowed. */
  readonly interactive: boolean;
  readonly env: NodeJS.ProcessEnv;
  /** Relative paths are resolved here (default: the process's working directory). */
  readonly cwd?: string;
}

export function processIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    interactive: process.stdin.isTTY === true,
    env: process.env,
  };
}

/** Codes that mean the co-signer cannot sign until an operator acts. */
const CANNOT_SIGN: ReadonlySet<ErrorCode> = new Set([
  'ERR_NOT_SET_UP', 'ERR_SEALED', 'ERR_KMS_ACCESS_DENIED', 'ERR_KMS_KEY_UNSAFE', 'ERR_KMS_INVALID_CIPHERTEXT',
  'ERR_SECRETS_KEY_CORRUPT', 'ERR_SECRETS_DB_CORRUPT', 'ERR_ROLLBACK', 'ERR_ROLLBACK_FLOOR_UNKNOWN',
]);
const UNAVAILABLE: ReadonlySet<ErrorCode> = new Set(['ERR_ENCLAVE_NOT_RUNNING', 'ERR_BUSY', 'ERR_UNAVAILABLE', 'ERR_TIMEOUT', 'ERR_CONNECTION_CLOSED', 'ERR_DEADLINE_EXCEEDED', 'ERR_LINK_BUSY']);

/** Exit code for an error (the table in docs/operations.md). */
export function exitCodeFor(err: CosignerError): number {
  // A bad value is a usage error whether the CLI, the daemon's request check or the enclave found it.
  if (err.code === 'ERR_USAGE' || err.code === 'ERR_INVALID_ARGUMENT') return EXIT.USAGE;
  if (err.code === 'ERR_CONTROL_SOCKET' && err.details?.unreachable === true) return EXIT.UNREACHABLE;
  if (err.code === 'ERR_UPGRADE_REFUSED' || err.code === 'ERR_UPGRADE_ROLLED_BACK' || err.code === 'ERR_RESTORE_REFUSED') return EXIT.REFUSED;
  // `start`/`unseal`/`status` mark a settled co-signer that cannot sign, whatever the cause's code.
  if (err.details?.cannotSign === true || CANNOT_SIGN.has(err.code)) return EXIT.CANNOT_SIGN;
  if (UNAVAILABLE.has(err.code)) return EXIT.UNAVAILABLE;
  return EXIT.FAILURE;
}

/** The `next:` line for an error code (parent/cli/hints.ts). */
export function hintFor(code: ErrorCode): string {
  return HINTS[code];
}

/** Prints a successful result (human text or JSON) and returns exit 0. */
export function ok(io: Pick<CliIo, 'stdout'>, json: boolean, command: string, result: unknown, human: () => string): number {
  if (json) io.stdout(JSON.stringify({ ok: true, command, result }) + '\n');
  else {
    const text = human();
    if (text) io.stdout(text.endsWith('\n') ? text : text + '\n');
  }
  return EXIT.OK;
}

/**
 * Prints an error with its next step and returns the exit code: the table's, unless the command
 * documents its own (`exitCode`, e.g. verify-attestation's 2 for unreadable input).
 */
export function fail(io: Pick<CliIo, 'stdout' | 'stderr'>, json: boolean, command: string, err: unknown, result?: unknown, exitCode?: number): number {
  const e = toCosignerError(err);
  const code = exitCode ?? exitCodeFor(e);
  // An error may carry a more specific next step than its code's (e.g. the config key to add).
  const hint = typeof e.details?.next === 'string' ? e.details.next : hintFor(e.code);
  if (json) io.stdout(JSON.stringify({ ok: false, command, exitCode: code, error: { code: e.code, message: e.message, retryable: e.retryable, hint, ...(e.details ? { details: e.details } : {}) }, ...(result !== undefined ? { result } : {}) }) + '\n');
  else io.stderr(`cosigner ${command}: ${e.code}: ${e.message}\n  next: ${hint}\n`);
  return code;
}

/** A usage error. */
export function usage(message: string): CosignerError {
  return new CosignerError('ERR_USAGE', message);
}

/**
 * Progress lines for a step that may take more than a second: nothing if it is quick, then a line
 * after 1 s and every 5 s, on stderr (never in --json mode, which must stay machine-readable).
 */
export async function withProgress<T>(io: CliIo, json: boolean, what: string, work: Promise<T>): Promise<T> {
  if (json) return work;
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const tick = (delay: number): void => {
    timer = setTimeout(() => {
      io.stderr(`… ${what} (${Math.round((Date.now() - started) / 1000)} s)\n`);
      tick(5000);
    }, delay);
  };
  tick(1000);
  try {
    return await work;
  } finally {
    clearTimeout(timer);
  }
}
