// Runs on the parent. The two ways the supervisor starts an enclave: a real Nitro Enclave through
// nitro-cli, or (local mode) the enclave bundle as a child process listening on a unix socket. Both
// give the supervisor the same handle, so everything above this file is the same code in both modes.
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { CosignerError } from '../../proto/errors.ts';
import { NitroCli, type DescribedEnclave } from './nitro-cli.ts';

/** A started enclave. `exited` resolves (never rejects) with a reason when it stops on its own. */
export interface EnclaveHandle {
  readonly id: string;
  readonly info: Readonly<Record<string, string | number | boolean>>;
  readonly exited: Promise<string>;
  /** Stop it on purpose; resolves once it is gone. */
  stop(): Promise<void>;
}

export interface EnclaveBackend {
  readonly kind: 'nitro' | 'local';
  /** Terminate enclaves a previous daemon left behind (same CID), so two never run at once. */
  cleanupStale(): Promise<void>;
  start(image: string): Promise<EnclaveHandle>;
}

export interface NitroBackendOptions {
  readonly cpuCount: number;
  readonly memoryMiB: number;
  readonly cid: number;
  readonly debug: boolean;
  readonly healthIntervalMs: number;
  readonly nitroCliBin?: string;
  /** Console lines of a debug-mode enclave. */
  readonly onConsole?: (line: string) => void;
  /** describe-enclaves failures while polling (the enclave is not presumed dead on these). */
  readonly onHealthError?: (err: CosignerError) => void;
}

/** Production: `nitro-cli run-enclave`, health by polling `describe-enclaves`. */
export function nitroBackend(o: NitroBackendOptions): EnclaveBackend {
  const cli = new NitroCli(o.nitroCliBin);
  return {
    kind: 'nitro',
    async cleanupStale() {
      const running = await cli.describeEnclaves();
      for (const e of running) if (e.EnclaveCID === o.cid) await cli.terminateEnclave(e.EnclaveID);
    },
    async start(eifPath) {
      const r = await cli.runEnclave({ eifPath, cpuCount: o.cpuCount, memoryMiB: o.memoryMiB, cid: o.cid, debug: o.debug });
      let stopping = false;
      let timer: NodeJS.Timeout | undefined;
      let wake: (() => void) | undefined;
      const consoleProc = o.debug && o.onConsole ? cli.console(r.EnclaveID, o.onConsole) : undefined;
      const exited = (async (): Promise<string> => {
        for (;;) {
          await new Promise<void>((res) => {
            wake = res;
            timer = setTimeout(res, o.healthIntervalMs);
          });
          if (stopping) return 'stopped';
          let list: DescribedEnclave[];
          try {
            list = await cli.describeEnclaves();
          } catch (err) {
            o.onHealthError?.(err as CosignerError);
            continue;
          }
          if (stopping) return 'stopped';
          const me = list.find((e) => e.EnclaveID === r.EnclaveID);
          if (!me) return 'enclave no longer listed by describe-enclaves';
          if (me.State !== 'RUNNING') return `enclave state ${String(me.State)}`;
        }
      })();
      return {
        id: r.EnclaveID,
        info: { enclaveId: r.EnclaveID, cid: r.EnclaveCID, cpus: r.NumberOfCPUs, memoryMiB: r.MemoryMiB, debug: o.debug, image: eifPath },
        exited,
        async stop() {
          stopping = true;
          if (timer) clearTimeout(timer);
          wake?.();
          consoleProc?.kill('SIGTERM');
          await cli.terminateEnclave(r.EnclaveID);
          await exited;
        },
      };
    },
  };
}

export interface LocalBackendOptions {
  /** Node binary; defaults to the one running the daemon. */
  readonly node?: string;
  readonly wireUrl: string;
  readonly args: readonly string[];
  /** Output lines of the enclave process (its console). */
  readonly onConsole?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Where the child's pid is recorded. A daemon killed with SIGKILL leaves its enclave process
   * running (holding the wire socket); the next daemon finds it here and stops it first.
   */
  readonly pidFile?: string;
}

async function isOurEnclave(pid: number, wireUrl: string): Promise<boolean> {
  try {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    const i = cmd.indexOf('--listen');
    return i >= 0 && cmd[i + 1] === wireUrl;
  } catch {
    return false;
  }
}

async function stopPid(pid: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive()) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 40 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
}

/** How long a local enclave has to exit after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 6000;

/** Local mode: `node <bundle> --listen <wireUrl> [args…]` as a child process. */
export function localBackend(o: LocalBackendOptions): EnclaveBackend {
  return {
    kind: 'local',
    async cleanupStale() {
      if (!o.pidFile) return;
      let pid: number;
      try {
        pid = Number((await readFile(o.pidFile, 'utf8')).trim());
      } catch {
        return;
      }
      // Only a process that is really our enclave (same wire URL on its command line): pids are reused.
      if (Number.isSafeInteger(pid) && pid > 1 && (await isOurEnclave(pid, o.wireUrl))) await stopPid(pid);
      await rm(o.pidFile, { force: true });
    },
    async start(bundlePath) {
      const child = spawn(o.node ?? process.execPath, [bundlePath, '--listen', o.wireUrl, ...o.args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: o.env ?? process.env,
      });
      const spawned = await new Promise<CosignerError | null>((res) => {
        child.once('spawn', () => res(null));
        child.once('error', (err) => res(new CosignerError('ERR_ENCLAVE_START', `cannot start the local enclave: ${err.message}`, { cause: err })));
      });
      if (spawned) throw spawned;
      if (o.pidFile) {
        try {
          await writeFile(o.pidFile, `${child.pid}\n`, { mode: 0o600 });
        } catch (err) {
          // Without its pid file the process could not be found by the next daemon: never leave it
          // running untracked (a full disk once left one orphan per restart attempt).
          child.kill('SIGKILL');
          const code = (err as NodeJS.ErrnoException).code;
          throw new CosignerError(code === 'ENOSPC' || code === 'EDQUOT' ? 'ERR_DISK_FULL' : 'ERR_ENCLAVE_START', `cannot record the local enclave's pid in ${o.pidFile}: ${code ?? 'error'}`, { cause: err });
        }
      }
      for (const s of [child.stdout, child.stderr]) {
        let rest = '';
        s?.setEncoding('utf8');
        s?.on('data', (chunk: string) => {
          rest += chunk;
          const lines = rest.split('\n');
          rest = (lines.pop() ?? '').slice(0, 16 * 1024);
          for (const l of lines) if (l.length > 0) o.onConsole?.(l);
        });
      }
      let stopping = false;
      const exited = new Promise<string>((res) => {
        child.once('exit', (code, signal) => {
          const pf = o.pidFile;
          if (pf) {
            void readFile(pf, 'utf8')
              .then((t) => (t.trim() === String(child.pid) ? rm(pf, { force: true }) : undefined))
              .catch(() => undefined);
          }
          // On a stop, "stopped (code 0)" is the enclave's own SIGTERM handler finishing; "(SIGKILL)"
          // means it did not exit within the grace below.
          res(`${stopping ? 'stopped' : 'enclave process exited'} (${signal ?? `code ${code}`})`);
        });
      });
      return {
        id: `local-${child.pid}`,
        info: { pid: child.pid ?? 0, image: bundlePath, wireUrl: o.wireUrl },
        exited,
        async stop() {
          stopping = true;
          if (child.exitCode !== null || child.signalCode !== null) return;
          // The enclave closes its sessions and flushes its logs, bounded to 1.5 s
          // (enclave/services/stop-signals.ts); SIGKILL only for one that hangs.
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
          await exited;
          clearTimeout(t);
        },
      };
    },
  };
}
