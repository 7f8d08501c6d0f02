// Runs in the enclave. Owner-gated changes the parent PROPOSED (DESIGN invariant 9): a Callback Handler
// change or a user's removal is held here, in enclave memory, until the workspace owner's signed
// decision arrives through the coordinator. Nothing here is sealed: a restart drops every pending
// change and the operator proposes it again (the owner then approves the new change id). The store is
// small and bounded; a change is single use (approved, rejected or expired, it is gone).
import { randomUUID, createPublicKey, type KeyObject } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { canonicalDigest } from '../../proto/coordinator/approval-signature.ts';
import { verifyOwnerApproval, type OwnerChangeKind } from '../../proto/coordinator/owner-approval.ts';
import type { CallbackSettings } from '../vault/records.ts';
import { fingerprint } from '../approval/settings.ts';

/** The kinds the parent may propose (user.activate comes from the coordinator's pairing flow). */
export type ProposedKind = Extract<OwnerChangeKind, 'callback.update' | 'user.remove'>;

/** The exact change the owner approves: new handler settings (null = none), or the removal. */
export type ChangeBody = { readonly callback: CallbackSettings | null } | { readonly remove: true; readonly keyIds: readonly string[] };

export const PENDING_LIMITS = {
  maxPending: 32,
  defaultLifetimeMs: 24 * 60 * 60_000,
  minLifetimeMs: 5 * 60_000,
  maxLifetimeMs: 7 * 24 * 60 * 60_000,
} as const;

export interface PendingChange {
  readonly changeId: string;
  readonly kind: ProposedKind;
  readonly userId: string;
  readonly change: ChangeBody;
  readonly digest: string;
  /** Non-secret lines the owner is shown (URL, mode, fingerprints, key ids). */
  readonly summary: readonly string[];
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * SHA-256 hex of the canonical change: what the owner signs and a handler rotation signs. Handler
 * settings enter as their fingerprint form (URL, mode, SHA-256 of the handler key's SPKI, of the pinned
 * certificate's SPKI, of the root CA, RETRY): exactly what the owner is shown, independent of PEM
 * line endings, and easy for a handler to recompute.
 */
export function changeDigest(kind: ProposedKind, userId: string, change: ChangeBody): string {
  const canonical = 'callback' in change ? { callback: change.callback ? settingsDigestForm(change.callback) : null } : change;
  return canonicalDigest({ kind, userId, change: canonical });
}

/** The digest form of handler settings (see changeDigest). */
export function settingsDigestForm(s: CallbackSettings): Record<string, unknown> {
  return { ...fingerprint(s), retryIntervalMs: s.retryIntervalMs, retryTotalMs: s.retryTotalMs };
}

/** A lifetime in ms from the request (0 / absent: the default), bounded. */
export function changeLifetimeMs(seconds: unknown): number {
  if (seconds === undefined || seconds === null || seconds === 0) return PENDING_LIMITS.defaultLifetimeMs;
  const ms = typeof seconds === 'number' && Number.isSafeInteger(seconds) ? seconds * 1000 : NaN;
  if (!(ms >= PENDING_LIMITS.minLifetimeMs && ms <= PENDING_LIMITS.maxLifetimeMs)) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', `expires_in_seconds must be between ${PENDING_LIMITS.minLifetimeMs / 1000} and ${PENDING_LIMITS.maxLifetimeMs / 1000}`, {
      details: { field: 'expires_in_seconds' },
    });
  }
  return ms;
}

/** The owner's decision on one change, as `change.approve` carries it. */
export interface OwnerDecision {
  readonly changeId: string;
  readonly decision: 'approve' | 'reject';
  readonly signature: string;
}

/** Bounded in-memory store of proposals. `now` is injected so expiry is testable. */
export class PendingChanges {
  private readonly items = new Map<string, PendingChange>();

  constructor(private readonly now: () => number) {}

  /** Drops expired changes and returns them (the caller audits each). */
  sweep(): PendingChange[] {
    const t = this.now();
    const gone: PendingChange[] = [];
    for (const c of this.items.values()) {
      if (c.expiresAt <= t) {
        this.items.delete(c.changeId);
        gone.push(c);
      }
    }
    return gone;
  }

  list(): PendingChange[] {
    return [...this.items.values()];
  }

  get size(): number {
    return this.items.size;
  }

  /** A new proposal (not stored yet: `keep` it once the coordinator has it). */
  create(kind: ProposedKind, userId: string, change: ChangeBody, summary: readonly string[], lifetimeMs: number): PendingChange {
    const createdAt = this.now();
    return { changeId: randomUUID(), kind, userId, change, digest: changeDigest(kind, userId, change), summary, createdAt, expiresAt: createdAt + lifetimeMs };
  }

  /** Stores a proposal; at most PENDING_LIMITS.maxPending wait at once. */
  keep(c: PendingChange): void {
    this.ensureRoom();
    this.items.set(c.changeId, c);
  }

  /** Throws ERR_LIMIT_EXCEEDED when full (checked before a proposal goes to the coordinator, too). */
  ensureRoom(): void {
    if (this.items.size >= PENDING_LIMITS.maxPending) {
      throw new CosignerError('ERR_LIMIT_EXCEEDED', `${PENDING_LIMITS.maxPending} changes already wait for the owner: have them approved or rejected, or let them expire`);
    }
  }

  /**
   * Checks the owner's signed decision on a pending change and removes the change (single use).
   * Unknown → ERR_NOT_FOUND; expired → ERR_CHANGE_EXPIRED (and dropped); no sealed owner key →
   * ERR_OWNER_KEY_MISSING; a signature that does not verify → ERR_OWNER_APPROVAL_INVALID (the change
   * stays: a forged decision must not be able to cancel the owner's pending one).
   */
  decide(d: OwnerDecision, ctx: { cosignerId: string; ownerPublicKeyPem: string | undefined }): PendingChange {
    const c = this.items.get(d.changeId);
    if (!c) throw new CosignerError('ERR_NOT_FOUND', 'no pending change with this id (approved, rejected, expired, or dropped by a restart)', { details: { changeId: d.changeId } });
    if (c.expiresAt <= this.now()) {
      this.items.delete(c.changeId);
      throw new CosignerError('ERR_CHANGE_EXPIRED', 'the change expired before the owner decided: propose it again', { details: { changeId: c.changeId } });
    }
    if (!ctx.ownerPublicKeyPem) throw ownerKeyMissing();
    let key: KeyObject;
    try {
      key = createPublicKey(ctx.ownerPublicKeyPem);
    } catch {
      throw ownerKeyMissing();
    }
    const statement = { cosignerId: ctx.cosignerId, changeId: c.changeId, kind: c.kind, subjectId: c.userId, digest: c.digest, expiresAt: c.expiresAt, decision: d.decision };
    if (!verifyOwnerApproval(key, statement, d.signature)) {
      throw new CosignerError('ERR_OWNER_APPROVAL_INVALID', 'the decision is not signed by the workspace owner key sealed at setup', { details: { changeId: c.changeId } });
    }
    this.items.delete(c.changeId);
    return c;
  }
}

/** A co-signer sealed before owner keys existed refuses every owner-gated change. */
export function ownerKeyMissing(): CosignerError {
  return new CosignerError('ERR_OWNER_KEY_MISSING', 'this co-signer has no sealed owner key, so no owner-gated change can be authorised (set up again with --owner-public-key)');
}
