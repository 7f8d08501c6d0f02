// Reference coordinator (test stand-in, loopback only). The second phase of pairing: after the DKG
// the pairing waits, uncommitted, until the co-signer reports (pair.commit) that it sealed its
// share. Only then is the user committed here, so a co-signer killed anywhere before its sealed
// write never leaves a user the coordinator holds and the co-signer does not; an uncommitted
// pairing is replaced by a new pair.register for the same user, or dropped after
// PAIRING_COMMIT_TTL_MS.
import { CosignerError } from '../../proto/errors.ts';
import { spkiB64 } from '../../proto/coordinator/envelope.ts';
import { persist, sweepPairings, type CoordinatorState, type Pairing } from './state.ts';
import type { KeyObject } from 'node:crypto';

/** The authenticated co-signer a request came from (as in pairing.ts). */
interface CosignerContext {
  readonly cosignerId: string;
  readonly clientKey: KeyObject;
}

/**
 * Whether a used token nonce blocks this pair.register. The co-signer (same id and auth key) that
 * spent it may present it again while the user is not committed: its earlier attempt died before
 * pair.commit. Anyone else (a stolen token) is refused as before.
 */
export function tokenBlocked(st: CoordinatorState, ctx: CosignerContext, nonce: string): boolean {
  if (!st.usedTokens.has(nonce)) return false;
  const h = st.tokenHolders.get(nonce);
  return !h || h.cosignerId !== ctx.cosignerId || h.key !== spkiB64(ctx.clientKey) || st.users.has(h.userId);
}

/** Records who spent the token and drops this co-signer's stale pairings of the same user. */
export function claimToken(st: CoordinatorState, ctx: CosignerContext, nonce: string, userId: string): void {
  st.usedTokens.add(nonce);
  st.tokenHolders.set(nonce, { cosignerId: ctx.cosignerId, key: spkiB64(ctx.clientKey), userId });
  sweepPairings(st);
  for (const [id, p] of st.pairings) if (p.userId === userId && p.cosignerId === ctx.cosignerId) st.pairings.delete(id);
  // A spent token stays spent across a restart (no second pairing with it).
  persist(st);
}

/** This co-signer's pairing of `userId` whose DKGs all finished (what pair.summary describes). */
export function finishedPairing(st: CoordinatorState, ctx: CosignerContext, userId: string): Pairing | undefined {
  return [...st.pairings.values()].find((p) => p.userId === userId && p.cosignerId === ctx.cosignerId && p.keys.length === p.schemes.length);
}

/** `pair.commit { pairingId }`: the co-signer sealed the pending user; commit it here. */
export function pairCommit(st: CoordinatorState, ctx: CosignerContext, b: Record<string, unknown>): unknown {
  if (typeof b !== 'object' || Object.keys(b).join(',') !== 'pairingId' || typeof b.pairingId !== 'string') {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'pair.commit takes { pairingId }');
  }
  const id = b.pairingId;
  // Idempotent: the reply to an earlier commit may have been lost with the connection.
  for (const u of st.users.values()) if (u.pairingId === id && u.cosignerId === ctx.cosignerId) return { userId: u.id };
  sweepPairings(st);
  const p = st.pairings.get(id);
  if (!p || p.cosignerId !== ctx.cosignerId) throw new CosignerError('ERR_NOT_FOUND', 'no such pairing (aborted, replaced or expired)');
  if (p.keys.length !== p.schemes.length || !p.summary) throw new CosignerError('ERR_SESSION_ABORTED', 'pair.commit before the DKG and pair.summary finished');
  if (st.users.has(p.userId)) throw new CosignerError('ERR_ALREADY_EXISTS', 'user already paired');
  st.users.set(p.userId, { id: p.userId, workspace: p.workspace, cosignerId: p.cosignerId, approvalPublicKey: p.approvalPublicKey, status: 'pending', keys: p.keys, summary: p.summary, pairingId: p.id });
  st.pairings.delete(p.id);
  // Before the reply: once the co-signer hears the commit, a restart must not lose the user.
  persist(st);
  return { userId: p.userId };
}
