// Reference coordinator (test stand-in): worker-thread entry of signer-pool.ts. Holds one
// SignerCore; every request names an operation and gets exactly one reply with the same id.
import { parentPort } from 'node:worker_threads';
import type { WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { errorToWire, SignerCore, type CommitJob } from './signer-core.ts';

type Req =
  | { readonly id: number; readonly op: 'commit'; readonly job: CommitJob }
  | { readonly id: number; readonly op: 'sign'; readonly sessionId: string; readonly commitments: WireCommitment[] }
  | { readonly id: number; readonly op: 'aggregate'; readonly sessionId: string; readonly shares: Record<number, string> }
  | { readonly id: number; readonly op: 'abort'; readonly sessionId: string };

const core = new SignerCore();
const port = parentPort;
if (!port) throw new Error('signer-worker must run in a worker thread');
port.on('message', (req: Req) => {
  try {
    let result: unknown;
    if (req.op === 'commit') result = core.commit(req.job);
    else if (req.op === 'sign') result = core.sign(req.sessionId, req.commitments);
    else if (req.op === 'aggregate') result = core.aggregate(req.sessionId, req.shares);
    else result = core.abort(req.sessionId);
    port.postMessage({ id: req.id, ok: true, result });
  } catch (err) {
    port.postMessage({ id: req.id, ok: false, error: errorToWire(err) });
  }
});
