// Runs on the parent (the `cosigner` CLI). Output, exit codes and "what to do next" hints. Every
// command goes through here so human and `--json` output stay consistent.
import { CosignerError, toCosignerError, type ErrorCode } from '../../proto/errors.ts';

/** Exit codes of `cosigner` (documented in docs/operations.md). */
export const EXIT = {
  OK: 0,
  /** The operation failed (the daemon or the enclave said no, or something broke). */
  FAILURE: 1,
  /** Bad command line, or a required flag missing in non-interactive use. */
  USAGE: 2,
  /** The daemon's control socket cannot be reached. */
  UNREACHABLE: 3,
  /** Temporarily unavailable: the enclave is not running/connected, the daemon is busy. Retry later. */
  UNAVAILABLE: 4,
  /** Refused for safety: upgrade refused by the key-policy check, or rolled back. */
  REFUSED: 5,
} as const;

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** stdin is a terminal, so prompting is allowed. */
  readonly interactive: boolean;
  readonly env: NodeJS.ProcessEnv;
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

/** Exit code for an error. */
export function exitCodeFor(err: CosignerError): number {
  if (err.code === 'ERR_USAGE') return EXIT.USAGE;
  if (err.code === 'ERR_CONTROL_SOCKET' && err.details?.unreachable === true) return EXIT.UNREACHABLE;
  if (err.code === 'ERR_UPGRADE_REFUSED' || err.code === 'ERR_UPGRADE_ROLLED_BACK') return EXIT.REFUSED;
  if (['ERR_ENCLAVE_NOT_RUNNING', 'ERR_BUSY', 'ERR_UNAVAILABLE', 'ERR_TIMEOUT', 'ERR_CONNECTION_CLOSED', 'ERR_DEADLINE_EXCEEDED'].includes(err.code)) return EXIT.UNAVAILABLE;
  return EXIT.FAILURE;
}

const HINTS: Partial<Record<ErrorCode, string>> = {
  ERR_USAGE: 'run `cosigner help` (or `cosigner <command> --help`) for the flags',
  ERR_INVALID_ARGUMENT: 'check the value named in the message; `cosigner <command> --help` lists the flags',
  ERR_CONTROL_SOCKET: 'start the daemon (systemctl start cosigner-parent) or point --socket / COSIGNER_SOCKET at its control socket',
  ERR_ENCLAVE_NOT_RUNNING: 'run `cosigner status`; if the enclave is stopped run `cosigner start`, if it is restarting wait and retry',
  ERR_BUSY: 'the daemon is at its queue limit; retry in a few seconds',
  ERR_NITRO_CLI: 'see `cosigner logs` and `nitro-cli describe-enclaves`; check /etc/nitro_enclaves/allocator.yaml has the CPUs and memory the config asks for',
  ERR_NOT_SET_UP: 'run `cosigner setup` first',
  ERR_ALREADY_SET_UP: 'this co-signer is already set up; use `cosigner add-user` to pair more users',
  ERR_SEALED: 'the enclave has not unsealed its secrets; `cosigner status` shows why',
  ERR_KMS_ACCESS_DENIED: 'the KMS key policy does not admit this enclave image; see docs/operations.md, "Upgrades"',
  ERR_PAIRING_TOKEN_EXPIRED: 'ask the coordinator for a new pairing token',
  ERR_PAIRING_TOKEN_INVALID: 'check the pairing token was copied completely',
  ERR_PAIRING_TOKEN_REUSED: 'a pairing token can be used once; ask for a new one',
  ERR_UPGRADE_REFUSED: 'update the key policy to admit the new measurements (cosigner key-policy CURRENT.json --also NEW.json …), apply it, and retry',
  ERR_UPGRADE_ROLLED_BACK: 'the previous image is running again; read `cosigner logs -n 100` for why the new image did not unseal',
  ERR_TIMEOUT: 'the operation may still complete; check `cosigner status` before retrying',
  ERR_NOT_FOUND: 'check the id with `cosigner list-users`',
  ERR_CONFIG_INVALID: 'fix the file named in the message',
};

export function hintFor(code: ErrorCode): string {
  return HINTS[code] ?? 'see `cosigner logs -n 50` and `cosigner status` for details';
}

/** Prints a successful result (human text or JSON) and returns exit 0. */
export function ok(io: CliIo, json: boolean, command: string, result: unknown, human: () => string): number {
  if (json) io.stdout(JSON.stringify({ ok: true, command, result }) + '\n');
  else {
    const text = human();
    if (text) io.stdout(text.endsWith('\n') ? text : text + '\n');
  }
  return EXIT.OK;
}

/** Prints an error with its next step and returns the exit code. */
export function fail(io: CliIo, json: boolean, command: string, err: unknown): number {
  const e = toCosignerError(err);
  const code = exitCodeFor(e);
  const hint = hintFor(e.code);
  if (json) io.stdout(JSON.stringify({ ok: false, command, exitCode: code, error: { code: e.code, message: e.message, retryable: e.retryable, hint, ...(e.details ? { details: e.details } : {}) } }) + '\n');
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
