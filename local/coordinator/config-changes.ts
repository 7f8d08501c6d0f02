// Reference coordinator (test stand-in, loopback only). Configuration changes a workspace raises
// (whitelisting an address, adding an exchange account, a policy change, …): each is sent to the
// co-signer as a `config_change_sign_request` (`approval.request` kind `config`), whose user's
// Callback Handler decides; the co-signer's signed decision is verified with the user's approval key
// and recorded. A change the co-signer rejects (or whose answer does not verify) is not applied.
import { randomUUID } from 'node:crypto';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { canonicalDigest, verifyApproval } from '../../proto/coordinator/approval-signature.ts';
import { connFor, type CoordinatorState } from './state.ts';

export interface ConfigChangeRecord {
  readonly id: string;
  readonly userId: string;
  readonly type: string;
  readonly extraInfo: Readonly<Record<string, unknown>>;
  status: 'pending' | 'approved' | 'rejected' | 'failed';
  approval?: { decision: string; payloadDigest: string; signature: string };
  error?: { code: string; message: string; details?: unknown };
}

/** Kept beside the coordinator state (bounded like transactions). */
const byState = new WeakMap<CoordinatorState, Map<string, ConfigChangeRecord>>();

function records(st: CoordinatorState): Map<string, ConfigChangeRecord> {
  let m = byState.get(st);
  if (!m) byState.set(st, (m = new Map()));
  return m;
}

/** One recorded change (GET /v1/config-changes/:id). */
export function getConfigChange(st: CoordinatorState, id: string): ConfigChangeRecord | undefined {
  return records(st).get(id);
}

/** Raise a change and ask the co-signer (POST /v1/config-changes). */
export async function createConfigChange(st: CoordinatorState, input: unknown): Promise<ConfigChangeRecord> {
  const i = (input ?? {}) as Record<string, unknown>;
  const user = st.users.get(String(i.userId));
  if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
  if (typeof i.type !== 'string' || !/^[A-Z][A-Z0-9_]{0,47}$/.test(i.type)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'bad type');
  const extraInfo = i.extraInfo ?? {};
  if (typeof extraInfo !== 'object' || extraInfo === null || Array.isArray(extraInfo)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'extraInfo must be an object');
  const rec: ConfigChangeRecord = { id: randomUUID(), userId: user.id, type: i.type, extraInfo: extraInfo as Record<string, unknown>, status: 'pending' };
  const m = records(st);
  m.set(rec.id, rec);
  while (m.size > 10_000) m.delete(m.keys().next().value as string);
  const payload = { type: rec.type, extraInfo: rec.extraInfo };
  try {
    const r = (await connFor(st, user).request('approval.request', { userId: user.id, kind: 'config', subjectId: rec.id, payload })) as { decision?: string; payloadDigest?: string; signature?: string };
    const payloadDigest = canonicalDigest(payload);
    const decision = r?.decision === 'approve' ? 'approve' : 'reject';
    const ok = typeof r?.signature === 'string' && r.payloadDigest === payloadDigest && verifyApproval(user.approvalPublicKey, { kind: 'config', userId: user.id, subjectId: rec.id, payloadDigest, decision }, r.signature);
    if (!ok) throw new CosignerError('ERR_COORDINATOR_AUTH', 'co-signer approval signature does not verify');
    rec.approval = { decision, payloadDigest, signature: r.signature as string };
    rec.status = decision === 'approve' ? 'approved' : 'rejected';
  } catch (err) {
    rec.status = 'failed';
    rec.error = toCosignerError(err).toJSON();
  }
  return rec;
}
