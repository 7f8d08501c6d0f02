// Runs in the enclave. The approval module's audit records: one per approval decision, and one per
// allowed or refused change of a user's handler settings. All are written to pino (the
// enclave's logger forwards to the parent's log sink). Only identifiers, outcome and timing: never
// the JWS, a key, or the request body. The handler's rejection reason is untrusted text, so it is
// bounded and stripped of control characters before it reaches a log line.
import type pino from 'pino';
import type { ErrorCode } from '../../proto/errors.ts';
import type { CallbackChangeAudit } from './settings.ts';

/** Longest rejection reason kept in a record. */
export const MAX_REASON_CHARS = 512;

/** What one decision record holds. */
export interface ApprovalAuditRecord {
  readonly requestId: string;
  readonly userId: string;
  readonly kind: 'tx_sign_request' | 'config_change_sign_request';
  readonly purpose: 'sign' | 'approve';
  /** APPROVE/REJECT/IGNORE as the handler answered (or APPROVE with `handler: false`), FAIL otherwise. */
  readonly action: 'APPROVE' | 'REJECT' | 'IGNORE' | 'FAIL';
  /** Whether a Callback Handler decided (false: no handler configured, the co-signer's own checks). */
  readonly handler: boolean;
  readonly reason?: string;
  readonly code?: ErrorCode;
  readonly attempts: number;
  readonly latencyMs: number;
  readonly payloadDigest: string;
}

/** Makes untrusted text safe for one log field. */
export function cleanReason(text: unknown): string | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  const flat = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, ' ');
  return flat.length > MAX_REASON_CHARS ? `${flat.slice(0, MAX_REASON_CHARS)}…` : flat;
}

/** Writes one decision record (`audit: true`, `event: 'callback.decision'`). */
export function recordDecision(logger: pino.Logger | undefined, r: ApprovalAuditRecord): void {
  if (!logger) return;
  const rec = {
    audit: true,
    event: 'callback.decision',
    requestId: r.requestId,
    userId: r.userId,
    kind: r.kind,
    purpose: r.purpose,
    action: r.action,
    handler: r.handler,
    ...(r.reason !== undefined ? { reason: cleanReason(r.reason) } : {}),
    ...(r.code !== undefined ? { code: r.code } : {}),
    attempts: r.attempts,
    latencyMs: r.latencyMs,
    payloadDigest: r.payloadDigest,
  };
  if (r.action === 'APPROVE' || r.action === 'IGNORE') logger.info(rec, 'approval decision');
  else logger.warn(rec, 'approval decision');
}

/** Writes the record of an allowed change of a user's handler settings (fingerprints only). */
export function recordCallbackChange(logger: pino.Logger | undefined, audit: CallbackChangeAudit): void {
  logger?.info({ audit: true, ...audit }, 'callback settings change');
}

/**
 * Writes the record of a refused, unconfirmed change of who approves a user's requests: someone
 * tried to swap the handler's key, certificate, root CA or mode (or remove it) without --confirm.
 */
export function recordCallbackRefused(logger: pino.Logger | undefined, r: { readonly userId: string; readonly changed: string }): void {
  logger?.warn({ audit: true, event: 'callback.settings.refused', userId: r.userId, changed: r.changed }, 'callback settings change refused: not confirmed');
}
