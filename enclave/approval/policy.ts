// Runs in the enclave. The co-signer's own checks, made before any Callback Handler is asked and
// regardless of whether one is configured: the request is well-formed for this user, the user is
// active, and at the signing stage the messages to sign are exactly the request's rawTx payloads.
// A handler can only narrow what these checks allow, never widen it.
import { CosignerError } from '../../proto/errors.ts';
import type { ApiUserRecord } from '../vault/records.ts';
import {
  buildConfigChangeSignRequest, buildTxSignRequest, checkSignedMessagesMatch, isKnownConfigType, isKnownOperation, payloadDigest,
  type ConfigChangeSignRequest, type Stage, type TxSignRequest,
} from './payload.ts';

/** A transaction request that passed the enclave's checks, ready for CallbackClient.ask. */
export interface CheckedTxRequest {
  readonly kind: 'tx_sign_request';
  readonly payload: TxSignRequest;
}

/** A configuration change that passed the enclave's checks. */
export interface CheckedConfigRequest {
  readonly kind: 'config_change_sign_request';
  readonly payload: ConfigChangeSignRequest;
}

function requireActive(user: ApiUserRecord | undefined, userId: string): ApiUserRecord {
  if (!user || user.id !== userId) throw new CosignerError('ERR_POLICY_DENIED', `no API user ${userId.slice(0, 128)} on this co-signer`);
  if (user.status !== 'active') throw new CosignerError('ERR_POLICY_DENIED', `API user ${user.id} is not active yet (pending the owner's approval)`);
  return user;
}

/**
 * Checks a transaction from the coordinator for `user`. At the signing stage `messagesToSign` must
 * equal the request's `rawTx[].payload` values (ERR_MESSAGE_MISMATCH otherwise); malformed input gives
 * ERR_INVALID_ARGUMENT, an unknown or inactive user ERR_POLICY_DENIED.
 */
export function checkTxRequest(
  user: ApiUserRecord | undefined,
  args: { userId: string; stage: Stage; tx: unknown; messagesToSign?: readonly (string | Uint8Array)[] },
): CheckedTxRequest {
  const u = requireActive(user, args.userId);
  const payload = buildTxSignRequest(args.tx, { signerId: u.id, stage: args.stage });
  // An operation outside the published list is the handler's to judge; with no handler there is
  // nobody who knows what it means, so the co-signer does not approve it on its own.
  if (!isKnownOperation(payload.operation) && !u.callback) {
    throw new CosignerError('ERR_POLICY_DENIED', 'an unknown operation needs the user\'s Callback Handler to decide', { details: { operation: payload.operation } });
  }
  if (args.stage === 'sign') {
    if (!args.messagesToSign) throw new CosignerError('ERR_MESSAGE_MISMATCH', 'a signing request must name the messages it signs');
    checkSignedMessagesMatch({ request: payload, payloadDigest: payloadDigest(payload) }, args.messagesToSign);
  }
  return { kind: 'tx_sign_request', payload };
}

/** Checks a configuration change request from the coordinator for `user`. */
export function checkConfigChangeRequest(user: ApiUserRecord | undefined, args: { userId: string; change: unknown }): CheckedConfigRequest {
  const u = requireActive(user, args.userId);
  const payload = buildConfigChangeSignRequest(args.change, { signerId: u.id });
  if (!isKnownConfigType(payload.type) && !u.callback) {
    throw new CosignerError('ERR_POLICY_DENIED', 'an unknown configuration change type needs the user\'s Callback Handler to decide', { details: { type: payload.type } });
  }
  return { kind: 'config_change_sign_request', payload };
}
