// Reference coordinator (test stand-in, loopback only). Owner-gated changes and the audit trail:
// a co-signer's `change.propose` is stored for the workspace owner, who lists it (GET /v1/changes)
// and approves or rejects it (POST /v1/changes/:id/approve|reject). The owner stand-in signs the
// owner statement (proto/coordinator/owner-approval.ts) with its key and sends `change.approve` to the
// co-signer, which verifies it against the owner key it sealed at setup. Audit records co-signers send are kept
// by audit-log.ts.
import { CosignerError } from '../../proto/errors.ts';
import { ID, NAME, arr, int, obj, str, type ChangeProposeBody } from '../../proto/coordinator/messages.ts';
import { signOwnerApproval } from '../../proto/coordinator/owner-approval.ts';
import type { CoordinatorState } from './state.ts';

/** A proposal as the coordinator keeps it. */
export interface ChangeEntry extends ChangeProposeBody {
  readonly cosignerId: string;
  readonly receivedAt: number;
  status: 'pending' | 'approved' | 'rejected' | 'failed';
  error?: { code: string; message: string };
}

const MAX_CHANGES = 1000;

interface ChangeStore {
  readonly changes: Map<string, ChangeEntry>;
}

// Kept beside the coordinator state (not in it) so this part stays self-contained.
const stores = new WeakMap<CoordinatorState, ChangeStore>();

function store(st: CoordinatorState): ChangeStore {
  let s = stores.get(st);
  if (!s) stores.set(st, (s = { changes: new Map() }));
  return s;
}

/** c2s `change.propose` from an authenticated, paired co-signer. */
export function proposeChange(st: CoordinatorState, cosignerId: string, body: unknown): unknown {
  if (!st.cosigners.has(cosignerId)) throw new CosignerError('ERR_PERMISSION_DENIED', 'only a paired co-signer may propose changes');
  const o = obj(body, 'change.propose', ['changeId', 'kind', 'userId', 'summary', 'digest', 'expiresAt']);
  if (o.kind !== 'callback.update' && o.kind !== 'user.remove') throw new CosignerError('ERR_INVALID_ARGUMENT', 'kind: callback.update or user.remove');
  const p: ChangeProposeBody = {
    changeId: str(o.changeId, 'changeId', ID),
    kind: o.kind,
    userId: str(o.userId, 'userId', NAME),
    summary: arr(o.summary, 'summary', 32, (x, f) => str(x, f, /^[\x20-\x7e]{0,300}$/, 300)),
    digest: str(o.digest, 'digest', /^[0-9a-f]{64}$/),
    expiresAt: int(o.expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER),
  };
  const s = store(st);
  if (s.changes.has(p.changeId)) throw new CosignerError('ERR_ALREADY_EXISTS', 'change id already proposed');
  if (s.changes.size >= MAX_CHANGES) throw new CosignerError('ERR_LIMIT_EXCEEDED', 'too many changes');
  s.changes.set(p.changeId, { ...p, cosignerId, receivedAt: st.now(), status: 'pending' });
  return { changeId: p.changeId, status: 'pending' };
}

/** Proposals, pending first. */
export function listChanges(st: CoordinatorState, opts: { all?: boolean } = {}): ChangeEntry[] {
  const all = [...store(st).changes.values()];
  return opts.all ? all : all.filter((c) => c.status === 'pending' && c.expiresAt > st.now());
}

/**
 * The owner decides: the owner stand-in signs the statement and the co-signer gets `change.approve`.
 * A real coordinator would carry a signature made on the owner's own device instead.
 */
export async function decideChange(st: CoordinatorState, changeId: string, decision: 'approve' | 'reject'): Promise<ChangeEntry & { applied: boolean }> {
  const c = store(st).changes.get(changeId);
  if (!c) throw new CosignerError('ERR_NOT_FOUND', 'no such change');
  if (c.status !== 'pending') throw new CosignerError('ERR_ALREADY_EXISTS', `change already ${c.status}`);
  const conn = st.cosigners.get(c.cosignerId)?.conn;
  if (!conn || conn.closed) throw new CosignerError('ERR_UNAVAILABLE', 'the co-signer is not connected');
  const signature = signOwnerApproval(st.ownerKey.privateKey, {
    cosignerId: c.cosignerId,
    changeId: c.changeId,
    kind: c.kind,
    subjectId: c.userId,
    digest: c.digest,
    expiresAt: c.expiresAt,
    decision,
  });
  try {
    const r = (await conn.request('change.approve', { changeId, decision, signature })) as { applied?: unknown };
    c.status = decision === 'approve' ? 'approved' : 'rejected';
    return { ...c, applied: r.applied === true };
  } catch (err) {
    const e = err as CosignerError;
    c.status = 'failed';
    c.error = { code: e.code ?? 'ERR_INTERNAL', message: e.message };
    throw err;
  }
}
