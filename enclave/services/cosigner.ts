// Runs in the enclave. The co-signer's lifecycle as the operator sees it: not set up → set up and
// unsealed; or, at every boot, sealed → unsealing → unsealed / access-denied. Owns the open vault and
// the coordinator client, and implements every Control operation on top of the Backends seam.
import { CosignerError, ERROR_CODES, toCosignerError, type ErrorCode } from '../../proto/errors.ts';
import type { CallbackSettings, SecretsState } from '../vault/records.ts';
import { OwnerChanges, type PendingChange } from './owner-changes.ts';
import type { Upstream, VaultHandle } from './backends.ts';
import { userInfo, type CosignerDeps, type CosignerState, type SetupInput, type StatusInfo, type UserInfo } from './cosigner-types.ts';
import { callbackPublicKey, createIdentity } from './identity.ts';
import { BOOT_UNSEAL_RETRY, CONTROL_LIMITS } from './limits.ts';
import { ownerKeyFingerprint } from '../../proto/coordinator/owner-approval.ts';
import { SerialQueue } from './serial-queue.ts';
import { pairSealCommit } from './add-user.ts';
import { refreshKey } from './refresh-key.ts';
import * as v from './validate.ts';

export { userInfo, type CosignerDeps, type CosignerState, type KeyInfo, type SetupInput, type StatusInfo, type UserInfo } from './cosigner-types.ts';

/** The key-policy part of the status (the policy is checked at setup and every unseal). */
function kmsPolicyStatus(p: { changeable: boolean; editors: readonly string[] } | undefined): Pick<StatusInfo, 'kmsPolicy' | 'kmsPolicyEditors'> {
  if (!p) return { kmsPolicy: '', kmsPolicyEditors: [] };
  return { kmsPolicy: p.changeable ? 'changeable' : 'fixed', kmsPolicyEditors: [...p.editors] };
}

/** The co-signer's operator-facing state machine. One instance per enclave process. */
export class Cosigner {
  private stateValue: CosignerState = 'starting';
  private error: { code: ErrorCode; message: string } | undefined;
  private vault: VaultHandle | undefined;
  private upstream: Upstream | undefined;
  private readonly mutations = new SerialQueue(CONTROL_LIMITS.maxQueuedMutations);
  private readonly startedAt = new Date();
  private readonly lifetime = new AbortController();
  private bootPromise: Promise<void> | undefined;
  private booting = false;
  /** Boot unseal: failed attempts so far and when the next one starts (epoch ms), while waiting. */
  private unsealAttempts = 0;
  private nextUnsealAt: number | undefined;
  private readonly changes: OwnerChanges;

  constructor(private readonly deps: CosignerDeps) {
    this.changes = new OwnerChanges({
      logger: deps.logger,
      now: () => deps.clock.now(),
      localMode: deps.localMode,
      vault: () => this.requireUnsealed(),
      upstream: () => this.upstream,
      serialize: (fn) => this.mutations.run(fn),
    });
  }

  get state(): CosignerState {
    return this.stateValue;
  }

  /** The open vault, for the composition root (signing glue). Undefined unless unsealed. */
  get openVault(): VaultHandle | undefined {
    return this.vault;
  }

  /**
   * First parent connection: find out whether secrets exist and unseal them. A transient failure
   * (KMS or the parent unreachable) is retried with capped backoff for as long as it lasts, so an
   * outage ends in an unsealed co-signer without the operator; a final verdict (access denied, unsafe
   * key, corrupt DB, rollback) stops the retries until the operator acts (`Unseal`). Idempotent.
   * Each attempt takes the mutation queue only while it runs, never while waiting for the next one.
   */
  boot(): Promise<void> {
    // A loop that ended while the error is transient (an operator `Unseal` that failed after a final
    // verdict, say) is started again when a parent (re)connects.
    if (this.bootPromise && !this.booting && this.stateValue === 'sealed' && this.errorRetryable) this.bootPromise = undefined;
    this.bootPromise ??= this.bootLoop().catch((err: unknown) => {
      this.deps.logger.error({ code: toCosignerError(err).code }, 'boot failed');
    });
    return this.bootPromise;
  }

  private get errorRetryable(): boolean {
    return this.error !== undefined && ERROR_CODES[this.error.code].retryable;
  }

  /** Whether boot unseal still has work: nothing decided yet, or only a transient failure so far. */
  private get bootPending(): boolean {
    return this.stateValue === 'starting' || (this.stateValue === 'sealed' && this.errorRetryable);
  }

  private async bootLoop(): Promise<void> {
    this.booting = true;
    let delay: number = BOOT_UNSEAL_RETRY.firstDelayMs;
    try {
      for (this.unsealAttempts = 0; ; ) {
        const failure = await this.mutations.run(() => this.bootAttempt()).catch((err: unknown) => toCosignerError(err));
        if (!failure || !this.bootPending) return;
        this.unsealAttempts++;
        // The status shows why it is waiting and when it tries again. 'starting' stays while it is
        // unknown whether secrets exist (the parent's blob store did not answer), so setup waits too.
        const known = failure.retryable && this.stateValue === 'starting' ? 'starting' : 'sealed';
        this.fail(known, failure);
        if (!failure.retryable || this.lifetime.signal.aborted) return;
        this.nextUnsealAt = this.deps.clock.now() + delay;
        this.deps.logger.warn({ code: failure.code, attempt: this.unsealAttempts, retryInMs: delay }, 'boot: unseal failed, retrying');
        try {
          await this.deps.clock.sleep(delay, this.lifetime.signal);
        } catch {
          return;
        } finally {
          this.nextUnsealAt = undefined;
        }
        delay = Math.min(delay * 2, BOOT_UNSEAL_RETRY.maxDelayMs);
      }
    } finally {
      this.booting = false;
      this.nextUnsealAt = undefined;
    }
  }

  /** One boot attempt, in the mutation queue. Resolves with the failure to retry, if any. */
  private async bootAttempt(): Promise<CosignerError | undefined> {
    // An operator request (setup, `Unseal`) may have decided the state meanwhile.
    if (!this.bootPending) return undefined;
    if (!(await this.deps.backends.hasSecrets())) {
      this.stateValue = 'not-set-up';
      this.error = undefined;
      this.deps.logger.info('no sealed secrets: waiting for `cosigner setup`');
      return undefined;
    }
    if (this.stateValue === 'starting') this.stateValue = 'sealed';
    try {
      await this.unsealLocked(undefined);
    } catch (err) {
      return toCosignerError(err);
    }
    if (this.stateValue === 'unsealed') this.unsealAttempts = 0;
    return undefined;
  }

  private fail(state: CosignerState, e: CosignerError): void {
    this.stateValue = state;
    this.error = { code: e.code, message: e.message };
  }

  private async unsealLocked(allowRollbackTo: bigint | undefined): Promise<void> {
    const previous = this.stateValue;
    // The last error stays visible while this attempt runs (status: unsealing, and why the last failed).
    this.stateValue = 'unsealing';
    try {
      this.vault = await this.deps.backends.unsealVault({ allowRollbackTo });
    } catch (err) {
      const e = toCosignerError(err);
      if (e.code === 'ERR_KMS_ACCESS_DENIED') {
        this.fail('access-denied', e);
        this.deps.logger.error({ code: e.code }, 'KMS refused to release secrets.key to this image: check the key policy admits its measurements');
        return;
      }
      if (e.code === 'ERR_NOT_SET_UP') {
        this.stateValue = 'not-set-up';
        this.error = undefined;
        return;
      }
      this.stateValue = previous === 'starting' ? 'starting' : 'sealed';
      if (this.stateValue === 'sealed') this.error = { code: e.code, message: e.message };
      throw e;
    }
    this.stateValue = 'unsealed';
    this.error = undefined;
    this.deps.logger.info({ users: this.vault.state.users.length }, 'unsealed');
    this.startUpstream();
  }

  private startUpstream(): void {
    if (!this.vault || this.upstream) return;
    try {
      this.upstream = this.deps.backends.startUpstream(this.vault, { buildId: this.deps.buildId, onOwnerDecision: (body) => this.changes.onOwnerDecision(body) });
    } catch (err) {
      const e = toCosignerError(err);
      this.deps.logger.error({ code: e.code }, 'coordinator client did not start');
    }
  }

  /** `Unseal`: retry after access-denied / a transient failure, or accept a restored backup. */
  async unseal(input: { allowRollbackTo?: unknown }): Promise<StatusInfo> {
    const allow = v.generation(input.allowRollbackTo, 'allow_rollback_to');
    return this.mutations.run(async () => {
      if (this.stateValue === 'unsealed') return this.status();
      if (this.stateValue === 'not-set-up') throw new CosignerError('ERR_NOT_SET_UP', 'nothing to unseal: run `cosigner setup` first');
      if (this.stateValue === 'starting') this.stateValue = 'sealed';
      try {
        await this.unsealLocked(allow);
      } catch (err) {
        // The status carries the reason; the caller also gets it as the RPC error.
        throw toCosignerError(err);
      }
      return this.status();
    });
  }

  status(): StatusInfo {
    const users = this.vault?.state.users ?? [];
    const notes = [...this.deps.backends.missing().map((m) => `not available in this build: ${m}`)];
    if (this.stateValue === 'access-denied') notes.push('KMS denied this image: add its measurements to the key policy (cosigner key-policy --also), then run unseal');
    if (this.stateValue === 'not-set-up') notes.push('run `cosigner setup` to create the sealed secrets');
    // The coordinator knows a newer sealed DB than this one: the client stopped (no signing, no approvals).
    const refused = this.upstream?.refusal?.();
    if (refused) notes.push('the coordinator client stopped: restore the newest secrets DB backup and restart the co-signer; a deliberate restore of an older one must first be acknowledged by the workspace owner at the coordinator');
    return {
      state: this.stateValue,
      attestationMode: this.deps.attestor.mode,
      buildId: this.deps.buildId,
      cosignerId: this.vault?.state.identity.cosignerId ?? '',
      errorCode: refused?.code ?? this.error?.code ?? '',
      errorMessage: refused?.message ?? this.error?.message ?? '',
      users: users.length,
      pendingUsers: users.filter((u) => u.status === 'pending').length,
      coordinator: this.upstream?.state() ?? 'not-started',
      localMode: this.deps.localMode,
      openSessions: this.upstream?.openSessions() ?? 0,
      startedAt: this.startedAt.toISOString(),
      secretsGeneration: this.vault?.generation !== undefined ? this.vault.generation.toString() : '',
      ...kmsPolicyStatus(this.deps.backends.kmsKeyPolicy?.()),
      notes,
      ownerKeyFingerprint: this.vault?.state.owner ? ownerKeyFingerprint(this.vault.state.owner.publicKeyPem) : '',
      nextUnsealAttemptAt: this.nextUnsealAt !== undefined && this.bootPending ? new Date(this.nextUnsealAt).toISOString() : '',
      unsealAttempts: this.stateValue === 'unsealed' ? 0 : this.unsealAttempts,
      pendingChanges: this.vault && this.stateValue === 'unsealed' ? this.changes.size : 0,
    };
  }

  private requireUnsealed(): VaultHandle {
    if (this.stateValue === 'not-set-up') throw new CosignerError('ERR_NOT_SET_UP', 'the co-signer is not set up: run `cosigner setup`');
    if (!this.vault || this.stateValue !== 'unsealed') {
      throw new CosignerError('ERR_SEALED', `the co-signer is ${this.stateValue}: see \`cosigner status\``);
    }
    return this.vault;
  }

  /** `Setup`: create secrets.key, identity keys and the sealed DB; optionally pair the first user. */
  async setup(input: SetupInput): Promise<{ cosignerId: string; callbackPublicKeyPem: string; user: UserInfo | undefined; status: StatusInfo }> {
    const keyArn = v.kmsKeyArn(input.kmsKeyArn);
    const region = v.region(input.region);
    const arnRegion = keyArn.split(':')[3];
    if (arnRegion !== region) throw new CosignerError('ERR_INVALID_ARGUMENT', `region ${region} differs from the key ARN's region ${arnRegion ?? '?'}`);
    const endpointText = v.text(input.kmsEndpoint, 'kms_endpoint', CONTROL_LIMITS.maxUrlChars);
    let endpoint: string | undefined;
    if (endpointText !== '') {
      // A parent-chosen KMS endpoint could plant a known secrets.key: only the local stack may.
      if (!this.deps.localMode || this.deps.attestor.mode !== 'dev') {
        throw new CosignerError('ERR_PERMISSION_DENIED', 'kms_endpoint is accepted only by a development build in local mode');
      }
      endpoint = v.endpointUrl(endpointText, 'kms_endpoint', { allowHttp: false });
    }
    const coordinator = v.hostPort(input.coordinatorUrl, 'coordinator_url');
    const coordinatorPublicKeyPem = v.publicKeyPem(input.coordinatorPublicKeyPem, 'coordinator_public_key_pem');
    const ownerPublicKeyPem = v.ownerPublicKeyPem(input.ownerPublicKeyPem, 'owner_public_key_pem');
    const token = v.pairingToken(input.pairingToken, { required: false });
    const callback = v.callbackSettings(input.callback, { localMode: this.deps.localMode });
    if (callback && token === '') throw new CosignerError('ERR_INVALID_ARGUMENT', 'callback settings belong to a user: give a pairing token too');

    const created = await this.mutations.run(async () => {
      if (this.stateValue === 'starting') throw new CosignerError('ERR_UNAVAILABLE', 'the co-signer is still starting: try again in a moment');
      // A setup that stored secrets.key but not the first DB may be finished with the same data key
      // (same co-signer id, as KMS binds it in the EncryptionContext); nothing sealed is replaced.
      const unfinished = this.stateValue === 'sealed' ? await this.deps.backends.unfinishedSetup() : null;
      if (this.stateValue !== 'not-set-up' && !unfinished) {
        throw new CosignerError('ERR_ALREADY_SET_UP', `the co-signer is already set up (${this.stateValue}); secrets are never overwritten`);
      }
      if (unfinished) this.deps.logger.warn({ cosignerId: unfinished.cosignerId }, 'finishing an earlier setup that stored secrets.key but no secrets DB');
      this.stateValue = 'setting-up';
      this.error = undefined;
      const fresh = createIdentity();
      const identity = unfinished ? { ...fresh, cosignerId: unfinished.cosignerId } : fresh;
      const initialState: SecretsState = {
        formatVersion: 1,
        identity,
        coordinator: { url: coordinator.text, publicKeyPem: coordinatorPublicKeyPem },
        kms: { keyArn, region },
        owner: { publicKeyPem: ownerPublicKeyPem },
        users: [],
      };
      try {
        this.vault = await this.deps.backends.setupVault({ kms: { keyArn, region, endpoint }, initialState });
      } catch (err) {
        const e = toCosignerError(err);
        // Whatever the vault managed to store stays; never overwrite it on a second try.
        let exists = false;
        try {
          exists = await this.deps.backends.hasSecrets();
        } catch {
          exists = true;
        }
        if (exists) this.fail('sealed', e);
        else this.stateValue = 'not-set-up';
        this.deps.logger.error({ code: e.code }, 'setup failed');
        throw e;
      }
      this.stateValue = 'unsealed';
      this.deps.logger.info({ cosignerId: identity.cosignerId, region }, 'set up: secrets sealed');
      this.startUpstream();
      return identity;
    });
    let user: UserInfo | undefined;
    if (token !== '') {
      try {
        user = await this.addUser({ pairingToken: token, callback: input.callback });
      } catch (err) {
        // The secrets are sealed either way: say so, so the operator retries only the pairing.
        const e = toCosignerError(err);
        throw new CosignerError(e.code, `setup done (co-signer ${created.cosignerId} sealed), but pairing the first user failed: ${e.message}; run \`cosigner add-user\``, {
          cause: e,
          ...(e.details ? { details: { ...e.details } } : {}),
        });
      }
    }
    return { cosignerId: created.cosignerId, callbackPublicKeyPem: callbackPublicKey(created).pem, user, status: this.status() };
  }

  /** `AddUser`: pair from a token (DKG with the coordinator), seal the new pending user. */
  async addUser(input: { pairingToken?: unknown; callback?: v.CallbackConfigInput | null | undefined }): Promise<UserInfo> {
    const token = v.pairingToken(input.pairingToken, { required: true });
    const callback = v.callbackSettings(input.callback, { localMode: this.deps.localMode });
    return this.mutations.run(async () => {
      const vault = this.requireUnsealed();
      if (vault.state.users.length >= CONTROL_LIMITS.maxUsers) {
        throw new CosignerError('ERR_LIMIT_EXCEEDED', `this co-signer already holds ${CONTROL_LIMITS.maxUsers} users`);
      }
      const record = await pairSealCommit({ token, callback, vault, upstream: this.upstream, backends: this.deps.backends, signal: this.lifetime.signal, now: this.deps.clock.now() });
      this.deps.logger.info({ userId: record.id, workspace: record.workspace, status: record.status, keys: record.keyShares.length }, 'user paired');
      return userInfo(record);
    });
  }

  listUsers(): UserInfo[] {
    return this.requireUnsealed().state.users.map(userInfo);
  }

  /** `RemoveUser`: a proposal only; the user and its shares stay sealed until the owner approves. */
  async removeUser(input: { userId?: unknown }): Promise<{ userId: string; pending: PendingChange }> {
    const id = v.userId(input.userId);
    this.requireUnsealed();
    const pending = await this.changes.removeUser(id);
    return { userId: id, pending };
  }

  /** `RefreshKey`: new shares of a threshold ECDSA key with the coordinator (refresh-key.ts), one mutation at a time. */
  async refreshKey(input: { userId?: unknown; keyId?: unknown }): Promise<{ userId: string; key: UserInfo['keys'][number]; refreshId: string }> {
    return this.mutations.run(() => refreshKey({ vault: this.requireUnsealed(), upstream: this.upstream }, input));
  }

  /**
   * `CallbackUpdate`: a proposal for the owner, or a key rotation signed by the current handler key
   * (applied at once). No flag from the parent counts as consent (DESIGN invariant 9).
   */
  async callbackUpdate(input: { userId?: unknown; callback?: v.CallbackConfigInput | null; rotationSignature?: unknown; expiresInSeconds?: unknown }) {
    const id = v.userId(input.userId);
    const next: CallbackSettings | undefined = v.callbackSettings(input.callback, { localMode: this.deps.localMode });
    const rotationSignature = v.text(input.rotationSignature ?? '', 'rotation_signature', 8192);
    this.requireUnsealed();
    return this.changes.callbackUpdate(id, next, { rotationSignature, expiresInSeconds: input.expiresInSeconds });
  }

  /** `ListChanges`: proposals waiting for the owner (memory only). */
  listChanges(): PendingChange[] {
    this.requireUnsealed();
    return this.changes.list();
  }

  printPublicKey(): { publicKeyPem: string; spkiSha256: string } {
    const k = callbackPublicKey(this.requireUnsealed().state.identity);
    return { publicKeyPem: k.pem, spkiSha256: k.spkiSha256 };
  }

  /** An attestation document with the caller's nonce and, once unsealed, the identity user_data. */
  async getAttestation(input: { nonce?: unknown }): Promise<{ document: Uint8Array; userData: Uint8Array; attestationMode: 'nsm' | 'dev' }> {
    const nonce = v.nonce(input.nonce);
    let userData = new Uint8Array(0);
    if (this.vault && this.stateValue === 'unsealed') {
      userData = new Uint8Array(this.deps.backends.identityUserData({ state: this.vault.state, buildId: this.deps.buildId }));
    }
    const document = await this.deps.attestor.attest({ ...(nonce ? { nonce } : {}), ...(userData.length ? { userData } : {}) });
    return { document, userData, attestationMode: this.deps.attestor.mode };
  }

  /** Stop the coordinator client (aborting open sessions), close KMS tunnels and drop the vault's keys. */
  async shutdown(): Promise<void> {
    this.lifetime.abort(new CosignerError('ERR_CANCELLED', 'shutting down'));
    // KMS tunnels first (an unseal still in flight ends now), so no relayed connection is left open.
    this.deps.backends.close?.();
    const up = this.upstream;
    this.upstream = undefined;
    if (up) await up.stop().catch(() => undefined);
    this.vault?.close();
    this.vault = undefined;
  }
}
