// Runs in the enclave: the body of one ECDSA worker thread (pool.ts). The enclave bundle starts
// itself again as a worker with workerData.role = ECDSA_WORKER_ROLE (enclave/main.ts), so the code
// that runs here is the measured bundle; unbundled runs (tests) start worker-entry.ts instead.
// Every request names an operation and gets exactly one reply with the same id.
import { HostCore, type RunSpec } from './core.ts';
import { errorToWire } from './host.ts';
import { ecdsaProtocols, type EcdsaProtocols } from './protocols.ts';
import type { PartyMessage } from '../party.ts';

/** workerData.role that makes the enclave bundle run as an ECDSA worker. */
export const ECDSA_WORKER_ROLE = 'cosigner-ecdsa-worker';

export type WorkerRequest =
  | { readonly id: number; readonly op: 'start'; readonly runId: string; readonly spec: RunSpec }
  | { readonly id: number; readonly op: 'step'; readonly runId: string; readonly incoming: readonly PartyMessage[] }
  | { readonly id: number; readonly op: 'abort'; readonly runId: string };

interface Port {
  on(event: 'message', listener: (m: WorkerRequest) => void): unknown;
  postMessage(m: unknown): void;
}

/** Serves HostCore on `port` (the worker's parentPort); `protocols` is a test seam. */
export function serveEcdsaWorker(port: Port, protocols: EcdsaProtocols = ecdsaProtocols): void {
  const core = new HostCore(protocols);
  port.on('message', (req) => {
    try {
      let result: unknown;
      if (req.op === 'start') result = core.start(req.runId, req.spec);
      else if (req.op === 'step') result = core.step(req.runId, req.incoming);
      else result = core.abort(req.runId);
      port.postMessage({ id: req.id, ok: true, result });
    } catch (err) {
      port.postMessage({ id: req.id, ok: false, error: errorToWire(err) });
    }
  });
}
