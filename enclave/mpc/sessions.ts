// Runs in the enclave. The open signing sessions of this co-signer, in memory only: a restart (a
// new registry) aborts every one of them, which is what makes nonce reuse across restarts
// impossible. Bounded in count and lifetime; a session id is accepted once.
import { FinishedIds } from './finished-ids.ts';
import { CosignerError } from '../../proto/errors.ts';
import type { Clock } from '../../proto/ports.ts';
import type { KeyShareLike } from './key-package.ts';
import { recordSignature } from '../services/signing-stats.ts';
import { FrostSigningSession, type SessionBinding, type WireCommitment } from './signing-session.ts';

export interface SessionRegistryOptions {
  readonly clock: Clock;
  /** Most sessions open at once (default 256); more → ERR_BUSY. */
  readonly maxOpen?: number;
  /** A session not finished within this many ms is aborted (default 120 000). */
  readonly ttlMs?: number;
  /** How many finished session ids are remembered to refuse their reuse (default 8192). */
  readonly rememberClosed?: number;
  /** Whether another registry (threshold ECDSA's) has seen this session id: ids are never reused across schemes. */
  readonly knownElsewhere?: (sessionId: string) => boolean;
}

interface Entry {
  readonly session: FrostSigningSession;
  readonly expiresAt: number;
  readonly scheme: string;
  readonly startedAt: number;
  /** Set once round 2 produced a share: the session then counts as signed, not failed. */
  signed: boolean;
}

/** Open FROST signing sessions of one enclave process. */
export class SessionRegistry {
  private readonly open = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly maxOpen: number;
  private readonly ttlMs: number;
  private readonly closed: FinishedIds;
  private readonly knownElsewhere: ((sessionId: string) => boolean) | undefined;

  constructor(opts: SessionRegistryOptions) {
    this.knownElsewhere = opts.knownElsewhere;
    this.clock = opts.clock;
    this.maxOpen = opts.maxOpen ?? 256;
    this.ttlMs = opts.ttlMs ?? 120_000;
    this.closed = new FinishedIds(opts.rememberClosed ?? 8192);
  }

  /** Number of sessions currently open. */
  get size(): number {
    this.expire();
    return this.open.size;
  }

  /** Whether this registry has seen `sessionId` (open or finished). */
  knows(sessionId: string): boolean {
    return this.open.has(sessionId) || this.closed.has(sessionId);
  }

  /**
   * Round 1 of a new session: binds session id, key, message and signer set, returns this
   * participant's commitments. `key` is the derived share that signs (enclave/mpc/derivation.ts):
   * the binding's keyId is its id, which round 2 must name. A session id seen before (open or
   * finished) is refused.
   */
  begin(sessionId: string, key: KeyShareLike, message: Uint8Array, signers: readonly number[]): { commitment: WireCommitment; binding: SessionBinding } {
    this.expire();
    if (this.knows(sessionId) || this.knownElsewhere?.(sessionId)) {
      const entry = this.open.get(sessionId);
      if (entry) this.finish(sessionId, entry);
      else this.closed.add(sessionId);
      throw new CosignerError('ERR_SESSION_ABORTED', 'session id reused: session aborted', { details: { sessionId: sessionId.slice(0, 128) } });
    }
    if (this.open.size >= this.maxOpen) throw new CosignerError('ERR_BUSY', 'too many open signing sessions');
    const session = new FrostSigningSession({ sessionId, key, message, signers });
    const commitment = session.commit();
    const now = this.clock.now();
    this.open.set(sessionId, { session, expiresAt: now + this.ttlMs, scheme: key.scheme, startedAt: now, signed: false });
    return { commitment, binding: session.binding };
  }

  /** Round 2: the signature share for `sessionId`. The session is closed whatever happens. */
  sign(sessionId: string, expect: Omit<SessionBinding, 'signers' | 'sessionId'>, commitments: readonly WireCommitment[]): string {
    this.expire();
    const entry = this.open.get(sessionId);
    if (!entry) {
      if (this.closed.has(sessionId)) throw new CosignerError('ERR_NONCE_REUSE', 'session already finished: its nonces are gone', { details: { sessionId: sessionId.slice(0, 128) } });
      throw new CosignerError('ERR_SESSION_NOT_FOUND', 'no such open session (expired, aborted, or the enclave restarted)', { details: { sessionId: sessionId.slice(0, 128) } });
    }
    try {
      const share = entry.session.sign(commitments, { ...expect, sessionId });
      entry.signed = true;
      return share;
    } finally {
      this.finish(sessionId, entry);
    }
  }

  /**
   * Aborts one session (e.g. the coordinator's transaction failed). An id not open yet is remembered
   * as finished too: the coordinator may give up while this side's approval step is still running,
   * and the session that approval would then open must not sit holding nonces until its TTL.
   */
  abort(sessionId: string): void {
    const entry = this.open.get(sessionId);
    if (entry) this.finish(sessionId, entry);
    else this.closed.add(sessionId);
  }

  /** Aborts every open session (shutdown, lost connection, key change). */
  abortAll(): void {
    for (const [id, entry] of [...this.open]) this.finish(id, entry);
  }

  private finish(sessionId: string, entry: Entry): void {
    // Metrics (no ids, no keys): one outcome per session, from round 1 to its end.
    recordSignature(entry.scheme, entry.signed ? 'signed' : 'failed', this.clock.now() - entry.startedAt);
    entry.session.abort();
    this.open.delete(sessionId);
    this.closed.add(sessionId);
  }


  private expire(): void {
    const now = this.clock.now();
    for (const [id, entry] of [...this.open]) if (entry.expiresAt <= now) this.finish(id, entry);
  }
}
