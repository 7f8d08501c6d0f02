// Runs in the enclave. The approval module's public surface, plus the adapter the composition root
// (enclave/services/real-backends.ts) plugs into Backends.applyCallbackUpdate.
import type pino from 'pino';
import type { ApiUserRecord, CallbackSettings } from '../vault/records.ts';
import { applyCallbackUpdate, type CallbackUpdate } from './settings.ts';

export { CallbackClient, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES, type ApprovalDecision, type CallbackClientOptions, type CallbackUser } from './callback-client.ts';
export {
  buildTxSignRequest, buildConfigChangeSignRequest, checkSignedMessagesMatch, payloadDigest, serializePayload, MAX_PAYLOAD_BYTES,
  type TxSignRequest, type ConfigChangeSignRequest, type ApprovedPayload, type Stage,
} from './payload.ts';
export { checkTxRequest, checkConfigChangeRequest, type CheckedTxRequest, type CheckedConfigRequest } from './policy.ts';
export {
  applyCallbackUpdate, validateCallbackSettings, retrySchedule, requestPath, fingerprint, RETRY_LIMITS,
  type CallbackUpdate, type CallbackChangeAudit, type RetrySchedule,
} from './settings.ts';
export { recordDecision, type ApprovalAuditRecord } from './audit.ts';

/**
 * Backends.applyCallbackUpdate for the composition root: decides the change for `user` and writes
 * its audit record (fingerprints only) when it is allowed.
 *
 * @example
 * applyCallbackUpdate: callbackUpdater({ logger, localMode }),
 */
export function callbackUpdater(deps: { logger?: pino.Logger; localMode: boolean }) {
  return (user: ApiUserRecord, next: CallbackSettings | undefined, opts: { confirmed: boolean }): CallbackUpdate => {
    let r: CallbackUpdate;
    try {
      r = applyCallbackUpdate(user.callback, next, { confirmed: opts.confirmed, userId: user.id, localMode: deps.localMode });
    } catch (err) {
      // A refused trust change is worth a record too: someone tried to swap who approves.
      if ((err as { code?: string }).code === 'ERR_PERMISSION_DENIED') {
        deps.logger?.warn({ audit: true, event: 'callback.settings.refused', userId: user.id, changed: (err as { details?: { changed?: string } }).details?.changed ?? '' }, 'callback settings change refused: not confirmed');
      }
      throw err;
    }
    if (r.changed.length > 0) deps.logger?.info({ audit: true, ...r.audit }, 'callback settings change');
    return r;
  };
}
