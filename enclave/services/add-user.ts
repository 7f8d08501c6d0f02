// Runs in the enclave. `add-user` as a two-phase commit with the coordinator: pair (DKG), seal the
// pending user, then `pair.commit` so the coordinator commits the user only once the share is
// sealed here. The same command, re-run with the same token after a crash, a lost connection or
// a failed sealed write, finishes what is left: pair.commit for a user already sealed, or a fresh
// pairing when nothing was sealed (the coordinator lets the same co-signer present the token again
// while the user is uncommitted). See docs/coordinator-protocol.md, "Pairing".
import { createPublicKey } from 'node:crypto';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { verifyPairingToken } from '../../proto/coordinator/pairing-token.ts';
import type { ApiUserRecord, CallbackSettings, SecretsState } from '../vault/records.ts';
import type { Backends, Upstream, VaultHandle } from './backends.ts';

export interface AddUserArgs {
  readonly token: string;
  readonly callback: CallbackSettings | undefined;
  readonly vault: VaultHandle;
  readonly upstream: Upstream | undefined;
  readonly backends: Pick<Backends, 'pairUser'>;
  readonly signal: AbortSignal;
  readonly now: number;
}

/** Pairs (or resumes pairing) the token's user and returns the sealed pending record. */
export async function pairSealCommit(a: AddUserArgs): Promise<ApiUserRecord> {
  const sealed = sealedUncommitted(a.vault.state, a.token, a.now);
  if (sealed?.pairingId) {
    if (await commitOrForget(a, sealed.pairingId, sealed.id)) return sealed;
    // The coordinator no longer holds that pairing (aborted, replaced or past its commit bound):
    // this pending user can never be activated. Forget it and pair afresh with the same token.
    await a.vault.update((s) => ({ ...s, users: s.users.filter((u) => !(u.id === sealed.id && u.status === 'pending' && u.pairingId === sealed.pairingId)) }));
  }
  const record = await a.backends.pairUser({ token: a.token, callback: a.callback, vault: a.vault, upstream: a.upstream, signal: a.signal });
  try {
    await a.vault.update((s) => {
      if (s.users.some((u) => u.id === record.id)) throw new CosignerError('ERR_ALREADY_EXISTS', `user ${record.id} is already paired`);
      return { ...s, users: [...s.users, record] };
    });
  } catch (err) {
    // Nothing sealed: free the coordinator's side at once (best effort; it expires there anyway).
    if (record.pairingId) await a.upstream?.send?.('pair.abort', { pairingId: record.pairingId }, { timeoutMs: 5_000 }).catch(() => undefined);
    throw err;
  }
  // A backend without the two-phase protocol (test fakes) returns no pairing id.
  if (record.pairingId) {
    try {
      await commit(a.upstream, record.pairingId, record.id);
    } catch (err) {
      const e = toCosignerError(err);
      throw new CosignerError(e.code, `user ${record.id} is sealed (pending) but the coordinator has not confirmed it: ${e.message}; run the same add-user again`, { cause: e });
    }
  }
  return record;
}

/** A sealed pending user created from this token (found by its nonce), if the token verifies. */
function sealedUncommitted(state: SecretsState, token: string, now: number): ApiUserRecord | undefined {
  let nonce: string;
  try {
    nonce = verifyPairingToken(token, { coordinatorKey: createPublicKey(state.coordinator.publicKeyPem), now, isUsed: () => false }).nonce;
  } catch {
    return undefined; // pairUser reports why the token is refused
  }
  return state.users.find((u) => u.pairingNonce === nonce && u.status === 'pending');
}

/** true: committed (now or before); false: the coordinator has no such pairing any more. */
async function commitOrForget(a: AddUserArgs, pairingId: string, userId: string): Promise<boolean> {
  try {
    await commit(a.upstream, pairingId, userId);
    return true;
  } catch (err) {
    if (toCosignerError(err).code === 'ERR_NOT_FOUND') return false;
    throw err;
  }
}

async function commit(upstream: Upstream | undefined, pairingId: string, userId: string): Promise<void> {
  if (!upstream?.send) throw new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'the coordinator client is not running');
  const r = (await upstream.send('pair.commit', { pairingId }, { timeoutMs: 10_000 })) as { userId?: unknown } | null;
  if (r?.userId !== userId) throw new CosignerError('ERR_COORDINATOR_AUTH', 'the coordinator committed another user than this pairing');
}
