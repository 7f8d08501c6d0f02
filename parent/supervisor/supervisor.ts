// Runs on the parent. Keeps one enclave running: starts it, notices when it stops on its own, and
// restarts it with exponential backoff (capped), so a crashing image cannot spin the host. Start
// failures (nitro-cli errors) are surfaced as ERR_NITRO_CLI / ERR_ENCLAVE_START in `status()` and the
// `error` event and retried on the same schedule.
// Every operation (start, stop, restart, switchImage and the backoff relaunch) runs one at a time on
// one chain: interleaved operations once left several enclave processes running with only one tracked,
// each possibly holding unsealed secrets.
import { EventEmitter } from 'node:events';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import type { EnclaveState } from '../metrics/cosigner-metrics.ts';
import type { EnclaveBackend, EnclaveHandle } from './backends.ts';

export interface SupervisorOptions {
  readonly backend: EnclaveBackend;
  /** EIF path (nitro) or bundle path (local). */
  readonly image: string;
  readonly restartInitialMs: number;
  readonly restartMaxMs: number;
}

/** What `cosigner status` shows about the supervisor. */
export interface SupervisorStatus {
  readonly state: EnclaveState;
  readonly mode: 'nitro' | 'local';
  readonly image: string;
  readonly enclaveId: string | null;
  readonly since: string;
  readonly restarts: number;
  readonly nextRestartInMs: number | null;
  readonly lastExit: string | null;
  readonly lastError: { code: string; message: string } | null;
  readonly info: Readonly<Record<string, string | number | boolean>>;
}

/** Backoff delay before restart number `attempt` (0-based): initial × 2^attempt, capped. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}

/**
 * Emits `state` (EnclaveState), `started` (EnclaveHandle), `exit` (reason), `error` (CosignerError).
 */
export class Supervisor extends EventEmitter {
  readonly #backend: EnclaveBackend;
  #image: string;
  readonly #initial: number;
  readonly #max: number;
  #state: EnclaveState = 'stopped';
  #since = new Date();
  #handle: EnclaveHandle | null = null;
  #attempt = 0;
  #restarts = 0;
  #lastExit: string | null = null;
  #lastError: CosignerError | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #nextRestartAt: number | null = null;
  #wanted = false;
  #launching: Promise<void> | null = null;
  /** Tail of the operation chain: the next operation starts when this one settled. */
  #ops: Promise<unknown> = Promise.resolve();

  constructor(o: SupervisorOptions) {
    super();
    this.#backend = o.backend;
    this.#image = o.image;
    this.#initial = o.restartInitialMs;
    this.#max = o.restartMaxMs;
  }

  get state(): EnclaveState {
    return this.#state;
  }
  get image(): string {
    return this.#image;
  }
  get handle(): EnclaveHandle | null {
    return this.#handle;
  }

  #setState(s: EnclaveState): void {
    if (s === this.#state) return;
    this.#state = s;
    this.#since = new Date();
    this.emit('state', s);
  }

  /** Run `op` after every operation queued before it has settled; its outcome is the caller's. */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(op, op);
    this.#ops = run.catch(() => undefined);
    return run;
  }

  /**
   * Start the enclave. Resolves once the first launch attempt finished; if it failed, the error is
   * thrown and the supervisor keeps retrying with backoff (call `stop()` to give up).
   */
  start(): Promise<void> {
    return this.#serial(() => this.#start());
  }

  async #start(): Promise<void> {
    if (this.#wanted) return;
    this.#wanted = true;
    this.#attempt = 0;
    this.#setState('starting');
    try {
      await this.#backend.cleanupStale();
    } catch (err) {
      // Not fatal by itself: run-enclave fails clearly if the CID is really taken.
      this.#fail(toCosignerError(err, 'ERR_NITRO_CLI'));
    }
    await this.#launch(true);
  }

  #fail(err: CosignerError): void {
    this.#lastError = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #launch(throwOnError: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      this.#nextRestartAt = null;
      let h: EnclaveHandle;
      try {
        h = await this.#backend.start(this.#image);
      } catch (err) {
        const e = toCosignerError(err, this.#backend.kind === 'nitro' ? 'ERR_NITRO_CLI' : 'ERR_ENCLAVE_START');
        this.#fail(e);
        if (this.#wanted) this.#scheduleRestart();
        if (throwOnError) throw e;
        return;
      }
      if (!this.#wanted) {
        await h.stop().catch(() => undefined);
        return;
      }
      this.#handle = h;
      this.#setState('running');
      this.emit('started', h);
      void h.exited.then((reason) => this.#onExit(h, reason));
    };
    const p = run().finally(() => {
      if (this.#launching === p) this.#launching = null;
    });
    this.#launching = p;
    return p;
  }

  #onExit(h: EnclaveHandle, reason: string): void {
    if (this.#handle !== h) return;
    this.#handle = null;
    this.#lastExit = reason;
    this.emit('exit', reason);
    if (!this.#wanted) {
      this.#setState('stopped');
      return;
    }
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    const delay = backoffDelay(this.#attempt, this.#initial, this.#max);
    this.#attempt += 1;
    this.#setState('restarting');
    this.#nextRestartAt = Date.now() + delay;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (!this.#wanted) return;
      void this.#serial(async () => {
        // A stop or restart queued meanwhile decided otherwise.
        if (!this.#wanted || this.#handle || this.#restartTimer) return;
        this.#restarts += 1;
        this.emit('restart', this.#restarts);
        await this.#launch(false);
      });
    }, delay);
  }

  /** The daemon calls this once the enclave answered over the wire: the next crash starts the backoff afresh. */
  markHealthy(): void {
    this.#attempt = 0;
  }

  /** Stop the enclave and do not restart it. */
  stop(): Promise<void> {
    return this.#serial(() => this.#stop());
  }

  async #stop(): Promise<void> {
    this.#wanted = false;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    this.#nextRestartAt = null;
    await this.#launching?.catch(() => undefined);
    const h = this.#handle;
    this.#handle = null;
    if (h) {
      try {
        await h.stop();
      } catch (err) {
        const e = toCosignerError(err, 'ERR_NITRO_CLI');
        this.#fail(e);
        this.#setState('failed');
        throw e;
      }
    }
    this.#setState('stopped');
  }

  /** Stop and start again as one operation, so concurrent restarts cannot interleave. */
  restart(): Promise<void> {
    return this.#serial(async () => {
      await this.#stop();
      await this.#start();
    });
  }

  /** Stop, switch to another image, start again (used by upgrade and rollback). */
  switchImage(image: string): Promise<void> {
    return this.#serial(async () => {
      await this.#stop();
      this.#image = image;
      this.#lastError = null;
      await this.#start();
    });
  }

  status(): SupervisorStatus {
    return {
      state: this.#state,
      mode: this.#backend.kind,
      image: this.#image,
      enclaveId: this.#handle?.id ?? null,
      since: this.#since.toISOString(),
      restarts: this.#restarts,
      nextRestartInMs: this.#nextRestartAt === null ? null : Math.max(0, this.#nextRestartAt - Date.now()),
      lastExit: this.#lastExit,
      lastError: this.#lastError ? { code: this.#lastError.code, message: this.#lastError.message } : null,
      info: this.#handle?.info ?? {},
    };
  }
}

export { CosignerError };
