// Reference coordinator (test stand-in, loopback only). Threshold ECDSA key refresh with the
// co-signer (`cosigner refresh-key`): `ecdsa.refresh` rounds run the coordinator's own refresh
// parties through the relay (ecdsa-relay.ts); their new shares are kept aside (UserKey.pendingRefresh,
// persisted) and become the ones this coordinator signs with only at `ecdsa.refresh.commit`, which
// the co-signer sends once its own new share is sealed. A refresh whose commit was lost is settled
// by the next `ecdsa.refresh`: it names the co-signer's current verifying shares, and if they are
// the kept-aside ones the coordinator adopts them first (docs/ecdsa.md).
import { CosignerError } from '../../proto/errors.ts';
import { parseEcdsaRefresh, parseEcdsaRefreshCommit } from '../../proto/coordinator/ecdsa-messages.ts';
import type { KeyShareRecord } from '../../enclave/vault/records.ts';
import { CoordinatorRelay } from './ecdsa-relay.ts';
import { persist, type CoordinatorState, type UserEntry, type UserKey } from './state.ts';

/** Most refreshes in progress at once (an abandoned one is dropped after REFRESH_TTL_MS). */
const MAX_REFRESHES = 64;
const REFRESH_TTL_MS = 10 * 60_000;

const sameShares = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  const ka = Object.keys(a).sort();
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
};

function ecdsaKeyOf(st: CoordinatorState, cosignerId: string, userId: string, keyId: string): { user: UserEntry; index: number; key: UserKey } {
  const user = st.users.get(userId);
  if (!user || user.cosignerId !== cosignerId) throw new CosignerError('ERR_NOT_FOUND', 'no such user of this co-signer');
  const index = user.keys.findIndex((k) => k.keyId === keyId);
  const key = user.keys[index];
  if (!key) throw new CosignerError('ERR_NOT_FOUND', 'no such key');
  if (key.scheme !== 'dkls23-secp256k1') throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'only threshold ECDSA keys are refreshed');
  return { user, index, key };
}

/** Adopts kept-aside refreshed shares: they become the ones this coordinator signs with. */
function adopt(st: CoordinatorState, user: UserEntry, index: number, own: KeyShareRecord[]): UserKey {
  const { pendingRefresh: _done, ...key } = user.keys[index] as UserKey;
  const next: UserKey = { ...key, own };
  user.keys[index] = next;
  persist(st);
  return next;
}

/** The shares the co-signer refreshes from: ours, or kept-aside ones whose commit was lost. */
function baseShares(st: CoordinatorState, user: UserEntry, index: number, key: UserKey, cosignerShares: Readonly<Record<string, string>>): KeyShareRecord[] {
  const first = key.own[0];
  if (first && sameShares(first.verifyingShares, cosignerShares)) return key.own;
  const pending = key.pendingRefresh?.own;
  if (pending?.[0] && sameShares(pending[0].verifyingShares, cosignerShares)) return adopt(st, user, index, pending).own;
  throw new CosignerError('ERR_SESSION_ABORTED', 'the co-signer holds shares of this key that this coordinator does not know');
}

/** `ecdsa.refresh` round r (the relay rule of ecdsa-relay.ts). */
export function ecdsaRefresh(st: CoordinatorState, ctx: { cosignerId: string }, v: unknown): unknown {
  const b = parseEcdsaRefresh(v);
  const now = st.now();
  for (const [id, r] of st.refreshes) if (r.startedAt + REFRESH_TTL_MS <= now) (r.relay.abort(), st.refreshes.delete(id));
  const { user, index, key } = ecdsaKeyOf(st, ctx.cosignerId, b.userId, b.keyId);
  if (b.round === 1) {
    if (st.refreshes.has(b.refreshId)) throw new CosignerError('ERR_SESSION_ABORTED', 'refresh id reused');
    if (st.refreshes.size >= MAX_REFRESHES) throw new CosignerError('ERR_BUSY', 'too many key refreshes in progress');
    const base = baseShares(st, user, index, key, b.verifyingShares);
    const relay = new CoordinatorRelay(base.map((k) => st.ecdsa.refresh({ key: k, now })));
    st.refreshes.set(b.refreshId, { cosignerId: ctx.cosignerId, userId: b.userId, keyId: b.keyId, relay, pending: [], startedAt: now });
  }
  const r = st.refreshes.get(b.refreshId);
  if (!r || r.cosignerId !== ctx.cosignerId || r.userId !== b.userId || r.keyId !== b.keyId || b.round !== r.relay.round + 1 || r.relay.done) {
    if (r) (r.relay.abort(), st.refreshes.delete(b.refreshId));
    throw new CosignerError('ERR_SESSION_ABORTED', 'ECDSA refresh round out of order: refresh aborted');
  }
  let messages;
  try {
    messages = r.relay.advance(r.pending);
  } catch (err) {
    st.refreshes.delete(b.refreshId);
    throw err;
  }
  r.pending = b.messages;
  const done = r.relay.done;
  if (done) {
    // Kept aside, durably, until the co-signer commits (it may die before it seals its share).
    user.keys[index] = { ...(user.keys[index] as UserKey), pendingRefresh: { refreshId: b.refreshId, own: [...done] } };
    st.refreshes.delete(b.refreshId);
    persist(st);
  }
  return { messages };
}

/** `ecdsa.refresh.commit`: the co-signer sealed its refreshed share; ours switch now. Idempotent. */
export function ecdsaRefreshCommit(st: CoordinatorState, ctx: { cosignerId: string }, v: unknown): unknown {
  const b = parseEcdsaRefreshCommit(v);
  const { user, index, key } = ecdsaKeyOf(st, ctx.cosignerId, b.userId, b.keyId);
  if (b.groupPublicKey !== key.groupPublicKey) throw new CosignerError('ERR_INVALID_ARGUMENT', 'a refresh keeps the group public key');
  const pending = key.pendingRefresh;
  if (pending?.refreshId === b.refreshId && pending.own[0] && sameShares(pending.own[0].verifyingShares, b.verifyingShares)) {
    adopt(st, user, index, pending.own);
    return {};
  }
  // The reply to an earlier commit may have been lost: already adopted is success.
  if (key.own[0] && sameShares(key.own[0].verifyingShares, b.verifyingShares)) return {};
  throw new CosignerError('ERR_NOT_FOUND', 'no such finished refresh of this key');
}
