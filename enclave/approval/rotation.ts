// Runs in the enclave. A Callback Handler may rotate its own signing key without the workspace owner:
// the request carries a compact JWS made with the handler's CURRENT private key (the key the enclave
// already trusts to approve transactions) over the digest of the new settings. Only a change of the
// handler public key qualifies: URL, auth mode, certificate, root CA and RETRY stay as they are, so a
// stolen parent cannot use a rotation to move approvals elsewhere. Anything else needs the owner.
import { compactVerify } from 'jose';
import { CosignerError } from '../../proto/errors.ts';
import type { CallbackSettings } from '../vault/records.ts';
import { parseHandlerPublicKey, usesJws } from './settings.ts';

/** The `typ` of the rotation payload (also what the sample handler signs). */
export const ROTATION_TYP = 'nitro-cosigner/handler-rotation/v1';

const MAX_JWS_CHARS = 8192;

function refused(why: string): CosignerError {
  return new CosignerError('ERR_ROTATION_INVALID', `handler key rotation refused: ${why}`);
}

/** True when `next` differs from `current` in the handler public key only. */
export function isKeyOnlyChange(current: CallbackSettings | undefined, next: CallbackSettings | undefined): boolean {
  if (!current || !next || !usesJws(current.authMode)) return false;
  return (
    current.url === next.url &&
    current.authMode === next.authMode &&
    (current.certificatePem ?? '') === (next.certificatePem ?? '') &&
    (current.rootCaPem ?? '') === (next.rootCaPem ?? '') &&
    current.retryIntervalMs === next.retryIntervalMs &&
    current.retryTotalMs === next.retryTotalMs &&
    (current.handlerPublicKeyPem ?? '') !== (next.handlerPublicKeyPem ?? '')
  );
}

/**
 * Verifies a rotation JWS against the current handler key. The payload must be exactly
 * {typ, cosignerId, userId, digest} for this co-signer, this user and this change's digest.
 */
export async function verifyRotation(args: {
  jws: string;
  current: CallbackSettings | undefined;
  next: CallbackSettings | undefined;
  cosignerId: string;
  userId: string;
  digest: string;
}): Promise<void> {
  const { jws, current, next } = args;
  if (typeof jws !== 'string' || jws.length === 0 || jws.length > MAX_JWS_CHARS) throw refused('the signature must be a compact JWS');
  if (!isKeyOnlyChange(current, next) || !current?.handlerPublicKeyPem) {
    throw refused('a rotation may change the handler public key only (same URL and auth mode); other changes need the workspace owner');
  }
  const { key, alg } = parseHandlerPublicKey(current.handlerPublicKeyPem);
  let payload: Uint8Array;
  try {
    payload = (await compactVerify(jws, key, { algorithms: [alg] })).payload;
  } catch {
    throw refused('the signature does not verify with the current handler key');
  }
  let p: unknown;
  try {
    p = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw refused('the payload is not JSON');
  }
  const o = (p ?? {}) as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'cosignerId,digest,typ,userId' || o.typ !== ROTATION_TYP || o.cosignerId !== args.cosignerId || o.userId !== args.userId || o.digest !== args.digest) {
    throw refused('the signed payload names another co-signer, user or change');
  }
}
