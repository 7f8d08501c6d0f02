// Runs in the enclave. The open threshold ECDSA (DKLs23) signing sessions of this co-signer, under
// the same rules as FROST's (enclave/mpc/sessions.ts): memory only (a restart, a new registry,
// aborts all), single use, bounded in count and lifetime, a session id accepted once. A session is
// bound at sign.commit to its id, the derived key id, the digest and the signer set; rounds 2 and 3
// (`sign.round`) must repeat that binding and come in order, one at a time. Anything else aborts
// the session. The party itself runs on an ECDSA worker (host.ts): its nonces never leave it.
// A peer caught cheating (ERR_PEER_CHEATED) marks the key "refresh required" through `onCheat`
// (a sealed write) before the error is returned: DKLs23 is secure with abort, but a peer that
// makes checks fail selectively may learn bits of our OT choices, so the key must not sign again
// with the same pairwise state.
import { FinishedIds } from '../../finished-ids.ts';
import { CosignerError, toCosignerError } from '../../../../proto/errors.ts';
import type { Clock } from '../../../../proto/ports.ts';
import type { SignRoundBody } from '../../../../proto/coordinator/ecdsa-messages.ts';
import { fromWireMessages, toWireMessages } from '../../../../proto/coordinator/ecdsa-messages.ts';
import type { WireEcdsaMessage } from '../../../../proto/coordinator/mpc-wire.ts';
import { recordSignature } from '../../../services/signing-stats.ts';
import type { KeyShareLike } from '../../key-package.ts';
import { checkParticipants } from '../../key-package.ts';
import { messageDigest, type SessionBinding } from '../../signing-session.ts';
import type { PartyMessage } from '../party.ts';
import type { EcdsaHost } from './host.ts';

/** Which sealed key a session signs with: where a cheating peer's mark is written. */
export interface SessionOwner {
  readonly userId: string;
  /** The base key id (the sealed record), not the derived one. */
  readonly keyId: string;
}

export interface EcdsaSessionOptions {
  readonly clock: Clock;
  readonly host: EcdsaHost;
  /** Durably marks the key (sealed DB) after a peer failed a check; awaited before the error is returned. */
  readonly onCheat: (owner: SessionOwner, err: CosignerError) => Promise<void>;
  /** Whether another registry (FROST's) has seen this session id: ids are never reused across schemes. */
  readonly knownElsewhere?: (sessionId: string) => boolean;
  readonly maxOpen?: number;
  readonly ttlMs?: number;
  readonly rememberClosed?: number;
}

interface Entry {
  readonly binding: SessionBinding;
  readonly owner: SessionOwner;
  readonly self: number;
  readonly expiresAt: number;
  readonly startedAt: number;
  /** The round `sign.round` must name next (2, then 3). */
  next: 2 | 3;
  /** A round is being computed: a second request meanwhile aborts the session. */
  busy: boolean;
  signed: boolean;
}

const ID = (sessionId: string): { sessionId: string } => ({ sessionId: sessionId.slice(0, 128) });

/** Open ECDSA signing sessions of one enclave process. */
export class EcdsaSessionRegistry {
  private readonly open = new Map<string, Entry>();
  private readonly maxOpen: number;
  private readonly ttlMs: number;
  private readonly closed: FinishedIds;

  constructor(private readonly o: EcdsaSessionOptions) {
    this.maxOpen = o.maxOpen ?? 256;
    this.ttlMs = o.ttlMs ?? 120_000;
    this.closed = new FinishedIds(o.rememberClosed ?? 8192);
  }

  get size(): number {
    this.expire();
    return this.open.size;
  }

  /** Whether this registry has seen `sessionId` (open or finished). */
  knows(sessionId: string): boolean {
    return this.open.has(sessionId) || this.closed.has(sessionId);
  }

  /**
   * Round 1 of a new session with the derived `key` over the 32-byte `digest`: binds the session and
   * returns the co-signer's round-1 messages. A session id seen before (here or by FROST) is refused.
   */
  async begin(sessionId: string, owner: SessionOwner, key: KeyShareLike, digest: Uint8Array, signers: readonly number[]): Promise<{ messages: WireEcdsaMessage[]; binding: SessionBinding }> {
    this.expire();
    if (key.scheme !== 'dkls23-secp256k1') throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'not a threshold ECDSA key', { details: { keyId: key.keyId } });
    if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new CosignerError('ERR_TX_FORMAT', 'an ECDSA session signs a 32-byte digest', { details: ID(sessionId) });
    if (this.knows(sessionId) || this.o.knownElsewhere?.(sessionId)) {
      this.abort(sessionId);
      throw new CosignerError('ERR_SESSION_ABORTED', 'session id reused: session aborted', { details: ID(sessionId) });
    }
    if (this.open.size >= this.maxOpen) throw new CosignerError('ERR_BUSY', 'too many open signing sessions');
    const sorted = [...signers].sort((a, b) => a - b);
    checkParticipants(key.threshold, key.participants, key.identifier);
    if (sorted.length < key.threshold || new Set(sorted).size !== sorted.length || !sorted.every((s) => key.participants.includes(s)) || !sorted.includes(key.identifier)) {
      throw new CosignerError('ERR_INVALID_ARGUMENT', 'signer set must be threshold..n distinct participants including this one');
    }
    const binding: SessionBinding = { sessionId, keyId: key.keyId, messageDigest: messageDigest(digest), signers: sorted };
    const now = this.o.clock.now();
    const entry: Entry = { binding, owner, self: key.identifier, expiresAt: now + this.ttlMs, startedAt: now, next: 2, busy: true, signed: false };
    this.open.set(sessionId, entry);
    try {
      await this.o.host.start(sessionId, { kind: 'sign', params: { sessionId, key, digest, signers: sorted } });
      const out = await this.o.host.step(sessionId, []);
      if (this.open.get(sessionId) !== entry) throw new CosignerError('ERR_SESSION_ABORTED', 'session aborted while round 1 ran', { details: ID(sessionId) });
      entry.busy = false;
      return { messages: toWireMessages(out.messages), binding };
    } catch (err) {
      this.finish(sessionId, entry);
      throw toCosignerError(err);
    }
  }

  /** Round 2 or 3 (`sign.round`): the co-signer's messages of that round. Round 3 closes the session. */
  async round(b: SignRoundBody): Promise<{ messages: WireEcdsaMessage[] }> {
    this.expire();
    const { sessionId } = b;
    const entry = this.open.get(sessionId);
    if (!entry) {
      if (this.closed.has(sessionId)) throw new CosignerError('ERR_NONCE_REUSE', 'session already finished: its nonces are gone', { details: ID(sessionId) });
      throw new CosignerError('ERR_SESSION_NOT_FOUND', 'no such open session (expired, aborted, or the enclave restarted)', { details: ID(sessionId) });
    }
    const refuse = (code: 'ERR_SESSION_ABORTED' | 'ERR_MESSAGE_MISMATCH', why: string, extra: Record<string, number> = {}): never => {
      this.finish(sessionId, entry);
      throw new CosignerError(code, `${why}: session aborted`, { details: { ...ID(sessionId), ...extra } });
    };
    if (entry.busy) refuse('ERR_SESSION_ABORTED', 'a round is already running for this session');
    if (b.keyId !== entry.binding.keyId) refuse('ERR_SESSION_ABORTED', 'sign.round names another key');
    if (b.messageDigest !== entry.binding.messageDigest) refuse('ERR_MESSAGE_MISMATCH', 'sign.round is for a different message than sign.commit');
    if (b.round !== entry.next) refuse('ERR_SESSION_ABORTED', `sign.round ${b.round} out of order (expected ${entry.next})`);
    for (const m of b.messages) {
      // Only the other signers talk to us, and only to us or to everyone.
      if (m.from === entry.self || !entry.binding.signers.includes(m.from)) refuse('ERR_SESSION_ABORTED', 'message from a participant outside the signer set', { identifier: m.from });
      if (m.to !== 0 && m.to !== entry.self) refuse('ERR_SESSION_ABORTED', 'message addressed to another participant', { identifier: m.from });
    }
    entry.busy = true;
    let out: { messages: readonly PartyMessage[] };
    try {
      out = await this.o.host.step(sessionId, fromWireMessages(b.messages));
    } catch (err) {
      const e = toCosignerError(err);
      this.finish(sessionId, entry);
      if (e.code === 'ERR_PEER_CHEATED') await this.o.onCheat(entry.owner, e);
      throw e;
    }
    if (this.open.get(sessionId) !== entry) throw new CosignerError('ERR_SESSION_ABORTED', 'session aborted while the round ran', { details: ID(sessionId) });
    entry.busy = false;
    if (b.round === 3) {
      // The co-signer's part ends with round 3 (the coordinator assembles the signature).
      entry.signed = true;
      this.finish(sessionId, entry);
    } else {
      entry.next = 3;
    }
    return { messages: toWireMessages(out.messages) };
  }

  /** Aborts one session; an id not open yet is remembered as finished (see SessionRegistry.abort). */
  abort(sessionId: string): void {
    const entry = this.open.get(sessionId);
    if (entry) this.finish(sessionId, entry);
    else this.closed.add(sessionId);
  }

  /** Aborts every open session (shutdown, lost connection). */
  abortAll(): void {
    for (const [id, entry] of [...this.open]) this.finish(id, entry);
  }

  private finish(sessionId: string, entry: Entry): void {
    if (this.open.get(sessionId) !== entry) return;
    recordSignature('dkls23-secp256k1', entry.signed ? 'signed' : 'failed', this.o.clock.now() - entry.startedAt);
    this.o.host.abort(sessionId);
    this.open.delete(sessionId);
    this.closed.add(sessionId);
  }


  private expire(): void {
    const now = this.o.clock.now();
    for (const [id, entry] of [...this.open]) if (entry.expiresAt <= now) this.finish(id, entry);
  }
}
