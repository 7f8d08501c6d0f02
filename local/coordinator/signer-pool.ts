// Reference coordinator (test stand-in): a pool of worker threads running the coordinator's
// per-signature cryptography (signer-core.ts), so the one coordinator process uses every core
// the way a horizontally scaled coordinator service would. A session sticks to the worker that
// made its nonces (they never leave that thread); new sessions go to the least-busy worker.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CosignerError } from '../../proto/errors.ts';
import type { WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { errorFromWire, type AggregateResult, type CommitJob, type CoordinatorSigner, type WireError } from './signer-core.ts';

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>;
  sessions: number;
  dead: boolean;
}

/** Starts `size` worker threads (≥ 1). The workers load TypeScript through tsx, as the coordinator does. */
export function workerSigner(size: number): CoordinatorSigner {
  if (!Number.isInteger(size) || size < 1 || size > 64) throw new CosignerError('ERR_INVALID_ARGUMENT', 'worker count must be 1..64');
  let nextId = 1;
  const bySession = new Map<string, Slot>();
  // `--import tsx` in a worker's execArgv does not register the loader before the entry module
  // loads on Node 20, so a tiny bootstrap registers tsx first, then imports the worker module.
  // (the package's ESM entry sits beside the CommonJS one that require.resolve finds)
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./signer-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  const slots: Slot[] = Array.from({ length: size }, () => {
    const worker = new Worker(bootstrap, { eval: true });
    const slot: Slot = { worker, pending: new Map(), sessions: 0, dead: false };
    worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: WireError }) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (slot.pending.size === 0) worker.unref(); // idle workers never keep the process alive
      if (m.ok) p.resolve(m.result);
      else p.reject(errorFromWire(m.error as WireError));
    });
    const fail = (why: string): void => {
      slot.dead = true;
      for (const p of slot.pending.values()) p.reject(new CosignerError('ERR_INTERNAL', `signing worker ${why}`));
      slot.pending.clear();
    };
    worker.on('error', () => fail('failed'));
    worker.on('exit', () => fail('exited'));
    worker.unref();
    return slot;
  });

  const call = <T>(slot: Slot, msg: Record<string, unknown>): Promise<T> => {
    if (slot.dead) return Promise.reject(new CosignerError('ERR_INTERNAL', 'signing worker is gone'));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.postMessage({ id, ...msg });
    });
  };
  const slotOf = (sessionId: string): Slot => {
    const s = bySession.get(sessionId);
    if (!s) throw new CosignerError('ERR_SESSION_ABORTED', 'no such signing session');
    return s;
  };
  const release = (sessionId: string): void => {
    const s = bySession.get(sessionId);
    if (!s) return;
    bySession.delete(sessionId);
    s.sessions--;
  };

  return {
    async commit(job: CommitJob) {
      if (bySession.has(job.sessionId)) throw new CosignerError('ERR_SESSION_ABORTED', 'signing session already exists');
      const live = slots.filter((s) => !s.dead);
      if (live.length === 0) throw new CosignerError('ERR_INTERNAL', 'no signing worker left');
      const slot = live.reduce((a, b) => (b.sessions < a.sessions ? b : a));
      slot.sessions++;
      bySession.set(job.sessionId, slot);
      try {
        return await call<WireCommitment[]>(slot, { op: 'commit', job });
      } catch (err) {
        release(job.sessionId);
        throw err;
      }
    },
    async sign(sessionId, commitments) {
      const slot = slotOf(sessionId);
      try {
        return await call<Record<number, string>>(slot, { op: 'sign', sessionId, commitments });
      } catch (err) {
        release(sessionId); // the worker aborted the session
        throw err;
      }
    },
    async aggregate(sessionId, shares) {
      const slot = slotOf(sessionId);
      release(sessionId); // aggregation ends the session in the worker whatever the outcome
      return call<AggregateResult>(slot, { op: 'aggregate', sessionId, shares });
    },
    abort(sessionId) {
      const slot = bySession.get(sessionId);
      if (!slot) return;
      release(sessionId);
      void call(slot, { op: 'abort', sessionId }).catch(() => undefined);
    },
    async close() {
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
