// Runs in the enclave. `user.activate`: the workspace owner's approval of a newly paired user. The
// coordinator only carries the owner's signature; the enclave recomputes what was approved (the
// pairing summary of its own sealed pending record) and verifies the signature with the owner key
// sealed at setup before sealing status 'active'. Without a valid owner signature over exactly this
// user, these keys and this Callback Handler, the user stays pending (DESIGN invariant 9).
import { createPublicKey } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { canonicalDigest } from '../../proto/coordinator/approval-signature.ts';
import { ID, NAME, int, obj, str } from '../../proto/coordinator/messages.ts';
import { verifyOwnerApproval } from '../../proto/coordinator/owner-approval.ts';
import type { ApiUserRecord } from '../vault/records.ts';
import { pairingSummary } from './pairing-summary.ts';
import type { UserStore } from './user-store.ts';

/** A parsed `user.activate` body. */
export interface UserActivateBody {
  readonly userId: string;
  readonly changeId: string;
  readonly expiresAt: number;
  readonly signature: string;
}

/** Strict parser of `user.activate` (every field required). */
export function parseUserActivate(v: unknown): UserActivateBody {
  const o = obj(v, 'user.activate', ['userId', 'changeId', 'expiresAt', 'signature']);
  return {
    userId: str(o.userId, 'userId', NAME),
    changeId: str(o.changeId, 'changeId', ID),
    expiresAt: int(o.expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER),
    signature: str(o.signature, 'signature', /^[A-Za-z0-9+/]{86}==$/, 88),
  };
}

function refuse(userId: string, why: string): never {
  throw new CosignerError('ERR_ACTIVATION_INVALID', `user.activate refused: ${why}`, { details: { userId } });
}

/**
 * Verifies the owner's approval and seals the user active. Throws ERR_ACTIVATION_INVALID (no owner
 * key sealed, expired, or a signature that is not the owner's over this pairing summary).
 */
export async function activateUser(
  o: { readonly users: UserStore; readonly cosignerId: string; readonly ownerPublicKeyPem: string | undefined; readonly now: number },
  body: unknown,
): Promise<ApiUserRecord> {
  const b = parseUserActivate(body);
  const user = o.users.get(b.userId);
  if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user on this co-signer', { details: { userId: b.userId } });
  if (user.status === 'active') return user;
  if (!o.ownerPublicKeyPem) refuse(user.id, 'no owner key is sealed on this co-signer (set up before owner keys existed)');
  if (b.expiresAt <= o.now) refuse(user.id, 'the owner approval has expired');
  const digest = canonicalDigest(pairingSummary(user, o.cosignerId));
  const statement = { cosignerId: o.cosignerId, changeId: b.changeId, kind: 'user.activate', subjectId: user.id, digest, expiresAt: b.expiresAt, decision: 'approve' } as const;
  if (!verifyOwnerApproval(createPublicKey(o.ownerPublicKeyPem), statement, b.signature)) refuse(user.id, 'not signed by the owner key over this pairing');
  return o.users.activate(user.id);
}
