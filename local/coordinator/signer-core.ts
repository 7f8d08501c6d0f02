// Reference coordinator (test stand-in): the coordinator's per-signature cryptography — its own
// FROST rounds for the shares it holds, aggregation, and standard verification of the result —
// as a small state machine keyed by session id. It runs either in the coordinator's main thread
// or inside a worker thread (signer-pool.ts), so a multi-core host spreads it over its cores the
// way a real coordinator service would scale out. Nonces live only in the FrostSigningSession
// objects held here: one per (session, own share), used once, dropped on completion or abort.
import { CosignerError, toCosignerError, type ErrorCode } from '../../proto/errors.ts';
import { aggregateSignature } from './aggregate.ts';
import { FrostSigningSession, type WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { isThresholdScheme, verifyWithStandardVerifier } from '../../enclave/mpc/suites.ts';
import type { KeyShareLike } from '../../enclave/mpc/key-package.ts';

/** Open signing sessions one core keeps at most (the REST layer bounds concurrency anyway). */
export const MAX_OPEN_SESSIONS = 4096;

/** Round 1 input: the coordinator's own shares that sign (derived for the entry's path), and what they sign. */
export interface CommitJob {
  readonly sessionId: string;
  readonly keys: readonly KeyShareLike[];
  readonly message: Uint8Array;
  readonly signers: readonly number[];
}

/** Result of aggregation plus standard verification. */
export interface AggregateResult {
  readonly signature: string;
  readonly verified: boolean;
  readonly aggregateMs: number;
  readonly verifyMs: number;
}

/** The asynchronous interface server.ts uses, whether the work runs here or in a worker. */
export interface CoordinatorSigner {
  commit(job: CommitJob): Promise<WireCommitment[]>;
  /** Round 2 for the own shares; `commitments` is the full list sent to every signer. */
  sign(sessionId: string, commitments: readonly WireCommitment[]): Promise<Record<number, string>>;
  /** Aggregates all shares (own ones are added here) and verifies; ends the session either way. */
  aggregate(sessionId: string, peerShares: Readonly<Record<number, string>>): Promise<AggregateResult>;
  /** Drops a session and its nonces (idempotent). */
  abort(sessionId: string): void;
  close(): Promise<void>;
}

interface Open {
  readonly sessions: FrostSigningSession[];
  readonly keys: readonly KeyShareLike[];
  readonly message: Uint8Array;
  commitments?: readonly WireCommitment[];
  shares?: Record<number, string>;
}

/** Synchronous core: one instance per thread. */
export class SignerCore {
  private readonly open = new Map<string, Open>();

  constructor(private readonly maxOpen = MAX_OPEN_SESSIONS) {}

  commit(job: CommitJob): WireCommitment[] {
    if (this.open.has(job.sessionId)) throw new CosignerError('ERR_SESSION_ABORTED', 'signing session already exists');
    if (this.open.size >= this.maxOpen) throw new CosignerError('ERR_LIMIT_EXCEEDED', 'too many open signing sessions');
    if (job.keys.length === 0) throw new CosignerError('ERR_INVALID_ARGUMENT', 'no own key share signs');
    const sessions = job.keys.map((key) => new FrostSigningSession({ sessionId: job.sessionId, key, message: job.message, signers: job.signers }));
    const commitments = sessions.map((s) => s.commit());
    this.open.set(job.sessionId, { sessions, keys: job.keys, message: job.message });
    return commitments;
  }

  sign(sessionId: string, commitments: readonly WireCommitment[]): Record<number, string> {
    const o = this.take(sessionId, false);
    try {
      if (o.commitments) throw new CosignerError('ERR_NONCE_REUSE', 'round 2 repeated');
      o.commitments = commitments;
      const shares: Record<number, string> = {};
      o.sessions.forEach((s, i) => (shares[o.keys[i]!.identifier] = s.sign(commitments, s.binding)));
      o.shares = shares;
      return { ...shares };
    } catch (err) {
      this.abort(sessionId);
      throw err;
    }
  }

  aggregate(sessionId: string, peerShares: Readonly<Record<number, string>>): AggregateResult {
    const o = this.take(sessionId, true);
    if (!o.commitments || !o.shares) throw new CosignerError('ERR_SESSION_ABORTED', 'aggregation before round 2');
    const shares: Record<number, string> = { ...o.shares };
    for (const [id, share] of Object.entries(peerShares)) {
      if (Object.prototype.hasOwnProperty.call(shares, id)) throw new CosignerError('ERR_BAD_SHARE', 'peer share for an own identifier', { details: { identifier: Number(id) } });
      shares[Number(id)] = share;
    }
    const key = o.keys[0]!;
    let t = performance.now();
    const sig = aggregateSignature(key, o.message, o.commitments, shares);
    const aggregateMs = performance.now() - t;
    t = performance.now();
    const verified = isThresholdScheme(key.scheme) && verifyWithStandardVerifier(key.scheme, Buffer.from(key.groupPublicKey, 'hex'), o.message, sig);
    const verifyMs = performance.now() - t;
    return { signature: Buffer.from(sig).toString('hex'), verified, aggregateMs, verifyMs };
  }

  abort(sessionId: string): void {
    const o = this.open.get(sessionId);
    if (!o) return;
    this.open.delete(sessionId);
    for (const s of o.sessions) s.abort();
  }

  get size(): number {
    return this.open.size;
  }

  /** The open session; `end` removes it (aggregation is the last step whatever its outcome). */
  private take(sessionId: string, end: boolean): Open {
    const o = this.open.get(sessionId);
    if (!o) throw new CosignerError('ERR_SESSION_ABORTED', 'no such signing session');
    if (end) this.abort(sessionId);
    return o;
  }
}

/** A CoordinatorSigner running in the calling thread. */
export function localSigner(): CoordinatorSigner {
  const core = new SignerCore();
  return {
    commit: async (job) => core.commit(job),
    sign: async (id, c) => core.sign(id, c),
    aggregate: async (id, s) => core.aggregate(id, s),
    abort: (id) => core.abort(id),
    close: async () => undefined,
  };
}

/** Error as it crosses a thread boundary. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, string | number | boolean>;
}

export function errorToWire(err: unknown): WireError {
  const e = toCosignerError(err);
  return { code: e.code, message: e.message, ...(e.details ? { details: { ...e.details } } : {}) };
}

export function errorFromWire(w: WireError): CosignerError {
  return new CosignerError(w.code, w.message, w.details ? { details: w.details } : {});
}
