// Runs on the parent. A typed wrapper around the `nitro-cli` commands the supervisor uses. Output is
// bounded and parsed strictly; any failure (missing binary, non-zero exit, unexpected JSON, timeout)
// is ERR_NITRO_CLI carrying the command and a short excerpt of stderr, never a raw exception.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { CosignerError } from '../../proto/errors.ts';

/** What `nitro-cli run-enclave` prints (reference: nitro.md). */
export interface RunEnclaveResult {
  readonly EnclaveName: string;
  readonly EnclaveID: string;
  readonly ProcessID: number;
  readonly EnclaveCID: number;
  readonly NumberOfCPUs: number;
  readonly CPUIDs: number[];
  readonly MemoryMiB: number;
}

/** One entry of `nitro-cli describe-enclaves`. */
export interface DescribedEnclave extends RunEnclaveResult {
  readonly State: string;
  readonly Flags: string;
  readonly Measurements?: Record<string, string>;
}

export interface RunEnclaveOptions {
  readonly eifPath: string;
  readonly cpuCount: number;
  readonly memoryMiB: number;
  readonly cid: number;
  readonly debug: boolean;
}

const MAX_OUTPUT = 1024 * 1024;
const TIMEOUT_MS = 120_000;

function excerpt(s: string): string {
  const t = s.trim().replace(/\s+/g, ' ');
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

/** Run `nitro-cli <args>` and parse its stdout as JSON. */
export function nitroCliJson(args: readonly string[], opts: { bin?: string; timeoutMs?: number } = {}): Promise<unknown> {
  const bin = opts.bin ?? 'nitro-cli';
  return new Promise((resolve, reject) => {
    execFile(bin, [...args], { timeout: opts.timeoutMs ?? TIMEOUT_MS, maxBuffer: MAX_OUTPUT, encoding: 'utf8' }, (err, stdout, stderr) => {
      const cmd = `nitro-cli ${args[0] ?? ''}`;
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'nitro-cli is not installed or not on PATH' : excerpt(stderr) || excerpt(stdout) || err.message;
        reject(new CosignerError('ERR_NITRO_CLI', `${cmd} failed: ${why}`, { cause: err, details: { command: args[0] ?? '' } }));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new CosignerError('ERR_NITRO_CLI', `${cmd} printed output that is not JSON: ${excerpt(stdout)}`, { cause: e, details: { command: args[0] ?? '' } }));
      }
    });
  });
}

function isRunResult(v: unknown): v is RunEnclaveResult {
  const o = v as Record<string, unknown> | null;
  return o !== null && typeof o === 'object' && typeof o.EnclaveID === 'string' && o.EnclaveID.length > 0 && o.EnclaveID.length < 256 && typeof o.EnclaveCID === 'number';
}

/** The supervisor's view of nitro-cli. */
export class NitroCli {
  constructor(private readonly bin = 'nitro-cli') {}

  async runEnclave(o: RunEnclaveOptions): Promise<RunEnclaveResult> {
    const args = ['run-enclave', '--eif-path', o.eifPath, '--cpu-count', String(o.cpuCount), '--memory', String(o.memoryMiB), '--enclave-cid', String(o.cid)];
    if (o.debug) args.push('--debug-mode');
    const out = await nitroCliJson(args, { bin: this.bin });
    if (!isRunResult(out)) throw new CosignerError('ERR_NITRO_CLI', 'nitro-cli run-enclave printed an unexpected result (no EnclaveID)');
    return out;
  }

  async describeEnclaves(): Promise<DescribedEnclave[]> {
    const out = await nitroCliJson(['describe-enclaves'], { bin: this.bin, timeoutMs: 30_000 });
    if (!Array.isArray(out) || out.length > 64) throw new CosignerError('ERR_NITRO_CLI', 'nitro-cli describe-enclaves printed an unexpected result (not an array)');
    return out.filter(isRunResult) as DescribedEnclave[];
  }

  async terminateEnclave(enclaveId: string): Promise<void> {
    const out = (await nitroCliJson(['terminate-enclave', '--enclave-id', enclaveId], { bin: this.bin, timeoutMs: 60_000 })) as { Terminated?: unknown } | null;
    if (out === null || typeof out !== 'object' || out.Terminated !== true) {
      throw new CosignerError('ERR_NITRO_CLI', `nitro-cli terminate-enclave did not confirm termination of ${enclaveId}`);
    }
  }

  /** Stream the console of a debug-mode enclave; the caller kills the process when done. */
  console(enclaveId: string, onLine: (line: string) => void): ChildProcess {
    const child = spawn(this.bin, ['console', '--enclave-id', enclaveId], { stdio: ['ignore', 'pipe', 'ignore'] });
    let rest = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      rest += chunk;
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      if (rest.length > 16 * 1024) rest = rest.slice(0, 16 * 1024);
      for (const l of lines) onLine(l);
    });
    child.on('error', () => undefined);
    return child;
  }
}
