// Runs in the enclave. The ECDSA worker threads: DKLs23 key generation, refresh and signing do
// their heavy work (OT extension, many scalar multiplications) off the event loop, so the enclave
// keeps answering the parent and the coordinator during a DKG. A run sticks to the worker that
// holds its secrets (nonces never leave that thread); new runs go to the least busy worker. A
// worker that dies takes its runs with it: every pending and later call on them fails with
// ERR_SESSION_ABORTED (never a hang), and a fresh worker takes the slot for new runs.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CosignerError } from '../../../../proto/errors.ts';
import { BUNDLED } from '../../../services/bundle-env.ts';
import type { PartyMessage, StepOutput } from '../party.ts';
import { errorFromWire, type EcdsaHost, type RunSpec, type WireError } from './host.ts';
import { ECDSA_WORKER_ROLE } from './worker.ts';

interface Slot {
  worker: Worker;
  readonly pending: Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>;
  readonly runs: Set<string>;
  dead: boolean;
}

export interface WorkerHostOptions {
  /** Worker threads (1..8; default 2). */
  readonly size?: number;
  /** Test seam: how a worker is started (default: the bundle itself, or worker-entry.ts through tsx). */
  readonly spawn?: () => Worker;
}

/** Starts the enclave bundle again as an ECDSA worker; unbundled, worker-entry.ts through tsx. */
export function spawnEcdsaWorker(): Worker {
  // In the bundle import.meta.url is the bundle file itself: the worker runs the measured code.
  if (BUNDLED) return new Worker(new URL(import.meta.url), { workerData: { role: ECDSA_WORKER_ROLE } });
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./worker-entry.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: { role: ECDSA_WORKER_ROLE } });
}

const gone = (why: string): CosignerError => new CosignerError('ERR_SESSION_ABORTED', `threshold ECDSA worker ${why}: its runs are aborted`);

/** An EcdsaHost over worker threads. */
export function workerHost(o: WorkerHostOptions = {}): EcdsaHost {
  const size = o.size ?? 2;
  if (!Number.isInteger(size) || size < 1 || size > 8) throw new CosignerError('ERR_INVALID_ARGUMENT', 'ECDSA worker count must be 1..8');
  const spawn = o.spawn ?? spawnEcdsaWorker;
  let nextId = 1;
  let closed = false;
  const byRun = new Map<string, Slot>();

  const attach = (slot: Slot): void => {
    const w = slot.worker;
    w.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: WireError }) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (slot.pending.size === 0) w.unref(); // an idle worker never keeps the process alive
      if (m.ok) p.resolve(m.result);
      else p.reject(errorFromWire(m.error as WireError));
    });
    const fail = (why: string): void => {
      if (slot.dead || slot.worker !== w) return;
      slot.dead = true;
      for (const p of slot.pending.values()) p.reject(gone(why));
      slot.pending.clear();
      for (const id of slot.runs) byRun.delete(id);
      slot.runs.clear();
    };
    w.on('error', () => fail('failed'));
    w.on('exit', () => fail('exited'));
    w.unref();
  };
  const newSlot = (): Slot => {
    const slot: Slot = { worker: spawn(), pending: new Map(), runs: new Set(), dead: false };
    attach(slot);
    return slot;
  };
  const slots: Slot[] = Array.from({ length: size }, newSlot);

  const call = <T>(slot: Slot, msg: Record<string, unknown>): Promise<T> => {
    if (slot.dead) return Promise.reject(gone('is gone'));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.postMessage({ id, ...msg });
    });
  };
  const release = (runId: string): void => {
    byRun.get(runId)?.runs.delete(runId);
    byRun.delete(runId);
  };
  const pick = (): Slot => {
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i] as Slot;
      // A dead worker's slot gets a fresh worker for new runs (its old runs stay aborted).
      if (s.dead) slots[i] = newSlot();
    }
    return slots.reduce((a, b) => (b.runs.size < a.runs.size ? b : a));
  };

  return {
    async start(runId: string, spec: RunSpec) {
      if (closed) throw new CosignerError('ERR_CANCELLED', 'threshold ECDSA host stopped');
      if (byRun.has(runId)) throw new CosignerError('ERR_SESSION_ABORTED', 'run id already in use');
      const slot = pick();
      slot.runs.add(runId);
      byRun.set(runId, slot);
      try {
        await call(slot, { op: 'start', runId, spec });
      } catch (err) {
        release(runId);
        throw err;
      }
    },
    async step(runId: string, incoming: readonly PartyMessage[]): Promise<StepOutput<unknown>> {
      const slot = byRun.get(runId);
      if (!slot) throw new CosignerError('ERR_SESSION_NOT_FOUND', 'no such threshold ECDSA run (finished, aborted or its worker stopped)');
      try {
        const out = await call<StepOutput<unknown>>(slot, { op: 'step', runId, incoming });
        if (out.result !== undefined) release(runId);
        return out;
      } catch (err) {
        release(runId); // the worker aborted the run
        throw err;
      }
    },
    abort(runId: string) {
      const slot = byRun.get(runId);
      if (!slot) return;
      release(runId);
      void call(slot, { op: 'abort', runId }).catch(() => undefined);
    },
    async close() {
      closed = true;
      byRun.clear();
      await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
    },
  };
}
