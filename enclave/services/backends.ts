// Runs in the enclave. The seams between the Control service and the modules it composes (vault,
// pairing, coordinator client, approvals, attestation). enclave/services/real-backends.ts wires the
// production modules; tests plug in fakes so the state machine is tested on its own.
import type { ApiUserRecord, CallbackSettings, SecretsState } from '../vault/records.ts';

/** An open (unsealed) secrets DB. */
export interface VaultHandle {
  readonly state: SecretsState;
  /** Generation of the sealed DB last read or written, when the vault exposes it. */
  readonly generation?: bigint | undefined;
  /** Serialised read-modify-write; the new state is sealed and stored before this resolves. */
  update(mutate: (s: SecretsState) => SecretsState): Promise<void>;
  /** Drop the key material this process can drop. */
  close(): void;
}

/** Where secrets.key lives in KMS. `endpoint` only ever set by a development build in local mode. */
export interface KmsSettings {
  readonly keyArn: string;
  readonly region: string;
  readonly endpoint?: string | undefined;
}

/** Connection state of the coordinator client, as `cosigner status` shows it. */
export type UpstreamState = 'not-started' | 'connecting' | 'connected' | 'disconnected' | 'unavailable';

/** The running coordinator client. */
export interface Upstream {
  state(): UpstreamState;
  openSessions(): number;
  /** Why the client refuses to work (ERR_ROLLBACK: the coordinator knows a newer sealed DB), if it does. */
  refusal?(): { readonly code: string; readonly message: string } | undefined;
  /** Stop: closes the connection and aborts every open signing session (nonces are dropped). */
  stop(): Promise<void>;
  /**
   * One request to the coordinator over the authenticated link (change.propose, audit.record).
   * Rejects with ERR_COORDINATOR_UNAVAILABLE when not connected within `timeoutMs`.
   */
  send?(type: string, body: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
  /** Queues an audit record for the coordinator (the client's bounded outbox: in order, at least once). */
  audit?(record: { readonly kind: string; readonly userId?: string; readonly subjectId?: string; readonly digest?: string; readonly decision?: string; readonly code?: string }): void;
  /** `RefreshKey`: new shares of a threshold ECDSA key with the coordinator, sealed (enclave/upstream/ecdsa-keys.ts). */
  refreshKey?(userId: string, keyId: string): Promise<{ readonly keyId: string; readonly groupPublicKey: string; readonly refreshId: string }>;
}

/** What the Cosigner answers on the coordinator link besides signing (owner decisions). */
export interface UpstreamHooks {
  /** `change.approve`: the workspace owner's signed decision on a pending change. */
  readonly onOwnerDecision?: (body: unknown) => Promise<unknown>;
}

/** Result of an in-place Callback Handler settings change. */
export interface CallbackUpdateResult {
  readonly settings: CallbackSettings | undefined;
  readonly changed: readonly string[];
}

export interface Backends {
  /** Whether sealed secrets (secrets.key) exist in the parent's blob store. */
  hasSecrets(): Promise<boolean>;
  /**
   * A setup that stored secrets.key but never its first secrets DB (e.g. the disk filled up in
   * between): the co-signer id it used, so a new setup can finish with the same KMS data key.
   */
  unfinishedSetup(): Promise<{ cosignerId: string } | null>;
  /** Create secrets.key through KMS and seal `initialState` as the first secrets DB. */
  setupVault(args: { kms: KmsSettings; initialState: SecretsState }): Promise<VaultHandle>;
  /** Open secrets.key (KMS Decrypt with an attested Recipient) and the secrets DB. */
  unsealVault(args: { allowRollbackTo?: bigint | undefined }): Promise<VaultHandle>;
  /** Start the coordinator client for an unsealed vault. */
  startUpstream(vault: VaultHandle, opts?: UpstreamHooks & { readonly buildId?: string }): Upstream;
  /**
   * Verify a pairing token against the coordinator key fixed at setup, run DKG with the
   * coordinator and return the new user (status 'pending') for the caller to seal.
   */
  pairUser(args: {
    token: string;
    callback: CallbackSettings | undefined;
    vault: VaultHandle;
    upstream: Upstream | undefined;
    signal: AbortSignal;
  }): Promise<ApiUserRecord>;
  /** Apply new handler settings; key/certificate changes need `confirmed` (audited). */
  applyCallbackUpdate(user: ApiUserRecord, next: CallbackSettings | undefined, opts: { confirmed: boolean }): CallbackUpdateResult;
  /** The identity user_data bound into GetAttestation documents. */
  identityUserData(args: { state: SecretsState; buildId: string }): Uint8Array;
  /**
   * The KMS key policy as the enclave last read and admitted it: whether anyone may still change it
   * (PutKeyPolicy, CreateGrant) and who. Undefined before setup or unseal checked it.
   */
  kmsKeyPolicy?(): { readonly changeable: boolean; readonly editors: readonly string[] } | undefined;
  /** Names of modules this build could not wire (shown by `status`, so nothing is faked). */
  missing(): readonly string[];
  /**
   * Shutdown: close the outbound connections the backends keep open (KMS tunnels, idle keep-alive
   * ones included), so the wire's close does not wait for them.
   */
  close?(): void;
}
