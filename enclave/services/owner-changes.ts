// Runs in the enclave. `CallbackUpdate` and `RemoveUser` from the parent are PROPOSALS (DESIGN
// invariant 9): validated, held in memory (pending-changes.ts), sent to the coordinator as
// `change.propose`, and applied only when the workspace owner's signed `change.approve` arrives over
// the authenticated coordinator link and verifies against the owner key sealed at setup. The one
// exception is a handler key rotation signed by the current handler key (approval/rotation.ts).
// Every step leaves an audit record in the log and, best effort, at the coordinator (`audit.record`).
import type { Logger } from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { parseChangeApprove, type AuditRecordBody } from '../../proto/coordinator/messages.ts';
import { fingerprint, validateCallbackSettings } from '../approval/settings.ts';
import { verifyRotation } from '../approval/rotation.ts';
import type { ApiUserRecord, CallbackSettings } from '../vault/records.ts';
import type { Upstream, VaultHandle } from './backends.ts';
import { userInfo, type UserInfo } from './cosigner-types.ts';
import { changeDigest, changeLifetimeMs, ownerKeyMissing, PendingChanges, type ChangeBody, type PendingChange } from './pending-changes.ts';

export type { PendingChange } from './pending-changes.ts';

export interface OwnerChangesDeps {
  readonly logger: Logger;
  readonly now: () => number;
  readonly localMode: boolean;
  readonly vault: () => VaultHandle;
  readonly upstream: () => Upstream | undefined;
  /** Runs a sealed write in the co-signer's mutation queue. */
  readonly serialize: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** How long a proposal may wait for the coordinator to take it. */
const PROPOSE_TIMEOUT_MS = 10_000;

/** Non-secret lines describing new handler settings. */
export function callbackSummary(next: CallbackSettings | undefined): string[] {
  if (!next) return ['remove the Callback Handler: transactions would then need no handler approval'];
  const f = fingerprint(next);
  return [
    `handler URL: ${f.url}`,
    `auth mode: ${f.authMode}`,
    ...(f.handlerKeySha256 ? [`handler key SHA-256: ${f.handlerKeySha256}`] : []),
    ...(f.certificateSpkiSha256 ? [`pinned certificate SPKI SHA-256: ${f.certificateSpkiSha256}`] : []),
    ...(f.rootCaSha256 ? [`root CA SHA-256: ${f.rootCaSha256}`] : []),
  ];
}

function changedFields(current: CallbackSettings | undefined, next: CallbackSettings | undefined): string[] {
  const a = current ? fingerprint(current) : null;
  const b = next ? fingerprint(next) : null;
  const out: string[] = [];
  for (const f of ['url', 'authMode', 'handlerKeySha256', 'certificateSpkiSha256', 'rootCaSha256'] as const) if ((a?.[f] ?? null) !== (b?.[f] ?? null)) out.push(f);
  if ((current?.retryIntervalMs ?? null) !== (next?.retryIntervalMs ?? null) || (current?.retryTotalMs ?? null) !== (next?.retryTotalMs ?? null)) out.push('retry');
  return out;
}

/** The owner-gated change flow of one co-signer. */
export class OwnerChanges {
  private readonly pending: PendingChanges;

  constructor(private readonly d: OwnerChangesDeps) {
    this.pending = new PendingChanges(d.now);
  }

  /** Pending changes (expired ones are dropped and audited first). */
  list(): PendingChange[] {
    this.expire();
    return this.pending.list();
  }

  get size(): number {
    this.expire();
    return this.pending.size;
  }

  /**
   * `CallbackUpdate`: a rotation signed by the current handler key is applied at once; anything else
   * becomes a pending change for the owner.
   */
  async callbackUpdate(userId: string, next: CallbackSettings | undefined, opts: { rotationSignature: string; expiresInSeconds: unknown }): Promise<{ user: UserInfo; changed: string[]; pending?: PendingChange; applied: boolean }> {
    if (next) validateCallbackSettings(next, { localMode: this.d.localMode });
    const lifetime = changeLifetimeMs(opts.expiresInSeconds);
    const user = this.requireUser(userId);
    const changed = changedFields(user.callback, next);
    const change: ChangeBody = { callback: next ?? null };
    if (opts.rotationSignature !== '') {
      const vault = this.d.vault();
      const digest = changeDigest('callback.update', userId, change);
      await verifyRotation({ jws: opts.rotationSignature, current: user.callback, next, cosignerId: vault.state.identity.cosignerId, userId, digest });
      const applied = await this.d.serialize(() => this.applyCallback(userId, next));
      this.audit({ kind: 'change.applied', userId, digest, decision: 'handler-rotation' }, { changed });
      return { user: userInfo(applied), changed, applied: true };
    }
    const pending = await this.propose('callback.update', userId, change, callbackSummary(next), lifetime);
    return { user: userInfo(user), changed, pending, applied: false };
  }

  /** `RemoveUser`: a pending change; the user and its shares stay sealed until the owner approves. */
  async removeUser(userId: string): Promise<PendingChange> {
    const user = this.requireUser(userId);
    const keyIds = user.keyShares.map((k) => k.keyId);
    const summary = ['remove the API user and destroy its key shares', ...keyIds.map((k) => `key id: ${k}`)];
    return this.propose('user.remove', userId, { remove: true, keyIds }, summary, changeLifetimeMs(undefined));
  }

  /** `change.approve` from the coordinator: verify the owner's decision, then apply or drop. */
  async onOwnerDecision(body: unknown): Promise<{ applied: boolean }> {
    const d = parseChangeApprove(body);
    this.expire();
    const vault = this.d.vault();
    let c: PendingChange;
    try {
      c = this.pending.decide(d, { cosignerId: vault.state.identity.cosignerId, ownerPublicKeyPem: vault.state.owner?.publicKeyPem });
    } catch (err) {
      const e = toCosignerError(err);
      this.audit({ kind: 'change.refused', subjectId: d.changeId, decision: d.decision, code: e.code });
      throw e;
    }
    const base = { userId: c.userId, subjectId: c.changeId, digest: c.digest };
    if (d.decision === 'reject') {
      this.audit({ kind: 'change.rejected', ...base, decision: 'reject' });
      return { applied: false };
    }
    this.audit({ kind: 'change.approved', ...base, decision: 'approve' });
    await this.d.serialize(async () => {
      if (c.kind === 'user.remove') await this.applyRemove(c.userId);
      else await this.applyCallback(c.userId, 'callback' in c.change ? (c.change.callback ?? undefined) : undefined);
    });
    this.audit({ kind: 'change.applied', ...base, decision: 'approve' });
    return { applied: true };
  }

  private requireUser(userId: string): ApiUserRecord {
    const user = this.d.vault().state.users.find((u) => u.id === userId);
    if (!user) throw new CosignerError('ERR_NOT_FOUND', `no user ${userId}: see \`cosigner list-users\``);
    return user;
  }

  private async propose(kind: PendingChange['kind'], userId: string, change: ChangeBody, summary: string[], lifetimeMs: number): Promise<PendingChange> {
    if (!this.d.vault().state.owner?.publicKeyPem) throw ownerKeyMissing();
    this.expire();
    this.pending.ensureRoom();
    const c = this.pending.create(kind, userId, change, summary, lifetimeMs);
    const up = this.d.upstream();
    if (!up?.send) throw new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'the coordinator client is not running: nothing was proposed');
    // Kept only once the coordinator has it: the owner can only approve what they can see.
    await up.send('change.propose', { changeId: c.changeId, kind, userId, summary, digest: c.digest, expiresAt: c.expiresAt }, { timeoutMs: PROPOSE_TIMEOUT_MS });
    this.pending.keep(c);
    this.audit({ kind: 'change.proposed', userId, subjectId: c.changeId, digest: c.digest }, { changeKind: kind });
    return c;
  }

  private async applyCallback(userId: string, next: CallbackSettings | undefined): Promise<ApiUserRecord> {
    let updated: ApiUserRecord | undefined;
    await this.d.vault().update((s) => ({
      ...s,
      users: s.users.map((u) => {
        if (u.id !== userId) return u;
        const { callback: _old, ...rest } = u;
        updated = next ? { ...rest, callback: next } : rest;
        return updated;
      }),
    }));
    if (!updated) throw new CosignerError('ERR_NOT_FOUND', `user ${userId} was removed meanwhile`);
    return updated;
  }

  private async applyRemove(userId: string): Promise<void> {
    await this.d.vault().update((s) => {
      if (!s.users.some((u) => u.id === userId)) throw new CosignerError('ERR_NOT_FOUND', `user ${userId} was removed meanwhile`);
      return { ...s, users: s.users.filter((u) => u.id !== userId) };
    });
  }

  private expire(): void {
    for (const c of this.pending.sweep()) this.audit({ kind: 'change.expired', userId: c.userId, subjectId: c.changeId, digest: c.digest });
  }

  /** One audit record: in the log, and (best effort) at the coordinator. */
  private audit(r: Omit<AuditRecordBody, 'at'>, extra: Record<string, unknown> = {}): void {
    const rec: AuditRecordBody = { at: this.d.now(), ...r };
    this.d.logger.info({ audit: true, event: r.kind, ...rec, ...extra }, 'owner-gated change');
    // The coordinator keeps its own copy (the client's outbox: in order, at least once, survives a
    // cut link), so the parent cannot erase it by deleting its log files.
    this.d.upstream()?.audit?.(r);
  }
}
