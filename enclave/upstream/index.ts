// Runs in the enclave. What the composition root (enclave/main.ts, enclave/services) uses to start
// the coordinator client for an unsealed vault and to pair users through it.
import type { Clock, Dial } from '../../proto/ports.ts';
import { CoordinatorClient, type ApproveFn, type CoordinatorClientOptions } from './client.ts';
import { userStoreFromVault, type VaultLike } from './user-store.ts';

export { CoordinatorClient, approvalDigest, type ApproveFn, type ApprovalDecision, type SignApprovalRequest } from './client.ts';
export { userStoreFromVault, memoryUserStore, type UserStore, type VaultLike } from './user-store.ts';
export { verifyPairingToken, createPairingToken, type PairingClaims } from '../../proto/coordinator/pairing-token.ts';

/**
 * Creates and starts the coordinator client for an open vault: identity and coordinator key come
 * from the sealed state, users are read live from the vault, activation is sealed through it.
 * The result satisfies the `Upstream` seam of enclave/services/backends.ts (`state`,
 * `openSessions`, `stop`) and pairs users with `client.pair(token, { callback, signal })`.
 * @example
 * const upstream = startUpstream({ vault, dial: ports.dial, clock: ports.clock, approve });
 * const record = await upstream.pair(token, { callback }); // then seal it: vault.update(...)
 */
export function startUpstream(o: {
  vault: VaultLike;
  dial: Dial;
  clock: Clock;
  approve: ApproveFn;
  tls?: CoordinatorClientOptions['tls'];
  log?: CoordinatorClientOptions['log'];
}): CoordinatorClient {
  const s = o.vault.state;
  return new CoordinatorClient({
    dial: o.dial,
    clock: o.clock,
    identity: { cosignerId: s.identity.cosignerId, coordinatorAuthKeyPkcs8: s.identity.coordinatorAuthKeyPkcs8 },
    coordinator: s.coordinator,
    users: userStoreFromVault(o.vault),
    approve: o.approve,
    ...(o.tls ? { tls: o.tls } : {}),
    ...(o.log ? { log: o.log } : {}),
  }).start();
}
