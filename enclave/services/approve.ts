// Runs in the enclave. The approval step the coordinator client calls before it signs or signs an
// approval: the enclave's own checks (enclave/approval/policy.ts), then the user's Callback Handler
// (enclave/approval/callback-client.ts), then the check that what will be signed is exactly what the
// handler approved. Fails closed: any error means no signature.
import type { Logger } from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import type { CallbackClient } from '../approval/callback-client.ts';
import { checkSignedMessagesMatch } from '../approval/payload.ts';
import { checkConfigChangeRequest, checkTxRequest } from '../approval/policy.ts';
import { approvalDigest, type ApprovalDecision, type ApproveFn, type SignApprovalRequest } from '../upstream/client.ts';
import type { ApiUserRecord } from '../vault/records.ts';
import type { AuditSink } from '../upstream/audit-outbox.ts';

/**
 * The handler-facing transaction description of a request (strictly validated next by
 * enclave/approval/payload.ts): the coordinator's description as it came, plus at the signing stage
 * the rawTx entries exactly as the handler reads them (path, raw transaction, payload).
 */
export function txInput(req: SignApprovalRequest, stage: 'sign' | 'approve'): Record<string, unknown> {
  const tx: Record<string, unknown> = { ...(req.payload ?? {}) };
  if (stage === 'sign') tx.rawTx = req.rawTx.map((r) => ({ keyDerivationPath: r.keyDerivationPath, rawTx: r.rawTx, payload: r.payload, format: r.format }));
  return tx;
}

/**
 * The ApproveFn handed to the coordinator client. For a signing request a refusal is thrown (the
 * coordinator sees the precise code: ERR_CALLBACK_REJECTED, _TIMEOUT, _RETRY_EXHAUSTED, ...); for an
 * approval request it is returned as `approved: false` so the co-signer signs a REJECT decision.
 */
export function createApprove(deps: { callback: CallbackClient; logger: Logger; signal?: AbortSignal; audit?: AuditSink }): ApproveFn {
  const decide = decider(deps);
  if (!deps.audit) return decide;
  const audit = deps.audit;
  // Every outcome (approve, handler reject/ignore, retry exhausted, timeout, policy refusal,
  // message mismatch) also goes to the coordinator's audit log: the parent cannot erase that copy.
  return async (user, req) => {
    const base = { kind: `approval.${req.kind}`, userId: req.userId, subjectId: req.txId, digest: approvalDigest(req) };
    let d: ApprovalDecision;
    try {
      d = await decide(user, req);
    } catch (err) {
      audit({ ...base, decision: 'reject', code: toCosignerError(err).code });
      throw err;
    }
    const code = d.approved ? undefined : /^(ERR_[A-Z0-9_]+):/.exec(d.reason ?? '')?.[1] ?? 'ERR_CALLBACK_IGNORED';
    audit({ ...base, decision: d.approved ? 'approve' : 'reject', ...(code ? { code } : {}) });
    return d;
  };
}

function decider(deps: { callback: CallbackClient; logger: Logger; signal?: AbortSignal }): ApproveFn {
  return async (user: ApiUserRecord, req: SignApprovalRequest): Promise<ApprovalDecision> => {
    const digest = approvalDigest(req);
    const opts = deps.signal ? { signal: deps.signal } : {};
    if (req.kind === 'sign') {
      const messages = req.rawTx.map((r) => r.payload);
      const checked = checkTxRequest(user, { userId: req.userId, stage: 'sign', tx: txInput(req, 'sign'), messagesToSign: messages });
      const d = await deps.callback.ask(user, 'tx_sign_request', checked.payload, { purpose: 'sign', ...opts });
      if (d.action !== 'APPROVE') throw new CosignerError('ERR_CALLBACK_IGNORED', 'the handler did not approve this signing request');
      // Sign exactly the payload the handler saw (bound by its digest).
      checkSignedMessagesMatch({ request: checked.payload, payloadDigest: d.payloadDigest }, messages);
      return { approved: true, payloadDigest: digest };
    }
    try {
      if (req.kind === 'config') {
        const p = req.payload ?? {};
        const checked = checkConfigChangeRequest(user, { userId: req.userId, change: { requestId: req.txId, type: p.type, ...(p.extraInfo !== undefined ? { extraInfo: p.extraInfo } : {}) } });
        const d = await deps.callback.ask(user, 'config_change_sign_request', checked.payload, { purpose: 'approve', ...opts });
        return d.action === 'APPROVE' ? { approved: true, payloadDigest: digest } : { approved: false, payloadDigest: digest, reason: 'IGNORED by the handler' };
      }
      const checked = checkTxRequest(user, { userId: req.userId, stage: 'approve', tx: txInput(req, 'approve') });
      const d = await deps.callback.ask(user, 'tx_sign_request', checked.payload, { purpose: 'approve', ...opts });
      return d.action === 'APPROVE' ? { approved: true, payloadDigest: digest } : { approved: false, payloadDigest: digest, reason: 'IGNORED by the handler' };
    } catch (err) {
      const e = toCosignerError(err);
      deps.logger.info({ requestId: req.requestId, userId: req.userId, code: e.code }, 'approval refused');
      const why = typeof e.details?.reason === 'string' ? e.details.reason : e.message;
      return { approved: false, payloadDigest: digest, reason: `${e.code}: ${why}`.slice(0, 200) };
    }
  };
}
