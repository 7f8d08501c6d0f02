// Runs in the enclave (and in the reference coordinator for its own shares). One FROST signing
// session of one participant: round 1 makes a nonce pair and publishes its commitments, round 2
// turns the coordinator's commitment list into a signature share. The nonces live only in this
// object, are used at most once and are bound at creation to the session id, the key, the message
// and the signer set; anything repeated, conflicting or out of order aborts the session for good.
import { createHash } from 'node:crypto';
import type { FROST, NonceCommitments, Nonces, RNG } from '@noble/curves/abstract/frost.js';
import { CosignerError } from '../../proto/errors.ts';
import { fromHex, toHex } from '../../proto/encoding/hex.ts';
import { checkParticipants, publicPackage, secretPackage, type KeyShareLike } from './key-package.ts';
import { identifierOf, isValidElement, suiteFor } from './suites.ts';
import type { WireCommitment } from '../../proto/coordinator/mpc-wire.ts';
export type { WireCommitment };

/** Largest message one session signs (a transaction digest or a raw payload). */
export const MAX_MESSAGE_BYTES = 64 * 1024;


/** What a session is bound to; every round-2 request must repeat the same binding. */
export interface SessionBinding {
  readonly sessionId: string;
  readonly keyId: string;
  /** SHA-256 hex of the message. */
  readonly messageDigest: string;
  /** Sorted signer identifiers. */
  readonly signers: readonly number[];
}

export interface SigningSessionParams {
  readonly sessionId: string;
  readonly key: KeyShareLike;
  readonly message: Uint8Array;
  readonly signers: readonly number[];
  /** Randomness for the nonces. Only tests pass this (to replay RFC 9591 vectors). */
  readonly rng?: RNG;
}

type State = 'new' | 'committed' | 'signed' | 'aborted';

/** SHA-256 hex digest of a message: how sessions, approvals and requests refer to it. */
export function messageDigest(message: Uint8Array): string {
  return createHash('sha256').update(message).digest('hex');
}

/** One participant's side of one FROST signing session. */
export class FrostSigningSession {
  readonly binding: SessionBinding;
  private readonly suite: FROST;
  private readonly key: KeyShareLike;
  private readonly message: Uint8Array;
  private readonly rng: RNG | undefined;
  private nonces: Nonces | undefined;
  private own: NonceCommitments | undefined;
  private stateValue: State = 'new';

  constructor(params: SigningSessionParams) {
    const { key, message, signers, sessionId } = params;
    this.suite = suiteFor(key.scheme);
    if (typeof sessionId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(sessionId)) {
      throw new CosignerError('ERR_INVALID_ARGUMENT', 'session id must be 1..128 characters [A-Za-z0-9._:-]');
    }
    if (!(message instanceof Uint8Array) || message.length > MAX_MESSAGE_BYTES) {
      throw new CosignerError('ERR_LIMIT_EXCEEDED', 'message too large to sign', { details: { max: MAX_MESSAGE_BYTES } });
    }
    checkParticipants(key.threshold, key.participants, key.identifier);
    const sorted = [...signers].sort((a, b) => a - b);
    if (sorted.length < key.threshold || sorted.length > key.participants.length) {
      throw new CosignerError('ERR_INVALID_ARGUMENT', 'signer set size must be between the threshold and the participant count');
    }
    if (new Set(sorted).size !== sorted.length) throw new CosignerError('ERR_INVALID_ARGUMENT', 'duplicate identifier in signer set');
    for (const s of sorted) {
      if (!key.participants.includes(s)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'signer is not a participant of this key', { details: { identifier: s } });
    }
    if (!sorted.includes(key.identifier)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'signer set does not include this participant');
    this.key = key;
    this.message = Uint8Array.from(message);
    this.rng = params.rng;
    this.binding = Object.freeze({ sessionId, keyId: key.keyId, messageDigest: messageDigest(message), signers: Object.freeze(sorted) });
  }

  /** Current state: new → committed → signed, or aborted from anywhere. */
  get state(): State {
    return this.stateValue;
  }

  /**
   * Round 1: fresh nonces (kept here, in memory only) and their public commitments.
   * A second call is a replayed round and aborts the session.
   */
  commit(): WireCommitment {
    if (this.stateValue !== 'new') {
      const wasSigned = this.stateValue === 'signed';
      this.abort();
      throw new CosignerError(wasSigned ? 'ERR_NONCE_REUSE' : 'ERR_SESSION_ABORTED', 'round 1 repeated: session aborted', { details: { sessionId: this.binding.sessionId } });
    }
    const gen = this.suite.commit(secretPackage(this.key), this.rng);
    this.nonces = gen.nonces;
    this.own = gen.commitments;
    this.stateValue = 'committed';
    return { identifier: this.key.identifier, hiding: toHex(gen.commitments.hiding), binding: toHex(gen.commitments.binding) };
  }

  /**
   * Round 2: the signature share (hex) for the coordinator's commitment list. `expect` must repeat
   * the session binding; the list must hold exactly one commitment per signer, ours unaltered.
   * Any failure aborts the session and destroys the nonces.
   */
  sign(commitments: readonly WireCommitment[], expect: Omit<SessionBinding, 'signers'>): string {
    const id = this.binding.sessionId;
    if (this.stateValue !== 'committed') {
      const code = this.stateValue === 'signed' ? 'ERR_NONCE_REUSE' : 'ERR_SESSION_ABORTED';
      const why = this.stateValue === 'new' ? 'round 2 before round 1' : this.stateValue === 'signed' ? 'round 2 repeated' : 'session already aborted';
      this.abort();
      throw new CosignerError(code, `${why}: session aborted`, { details: { sessionId: id } });
    }
    try {
      if (expect.sessionId !== id || expect.keyId !== this.binding.keyId) {
        throw new CosignerError('ERR_SESSION_ABORTED', 'round 2 names another session or key', { details: { sessionId: id } });
      }
      if (expect.messageDigest !== this.binding.messageDigest) {
        throw new CosignerError('ERR_MESSAGE_MISMATCH', 'round 2 is for a different message than round 1', { details: { sessionId: id } });
      }
      const list = this.parseCommitments(commitments);
      let share: Uint8Array;
      try {
        share = this.suite.signShare(secretPackage(this.key), publicPackage(this.key), this.nonces as Nonces, list, this.message);
      } catch (err) {
        // The suite validates every point (RFC 9591 §3.1) but cannot say whose was bad; the
        // same checks again, only on this failure path, name the participant.
        this.blamePoints(commitments);
        throw err;
      }
      this.stateValue = 'signed';
      this.dropNonces();
      return toHex(share);
    } catch (err) {
      this.abort();
      if (err instanceof CosignerError) throw err;
      throw new CosignerError('ERR_SESSION_ABORTED', 'signature share refused: session aborted', { details: { sessionId: id } });
    }
  }

  /** Destroys the nonces; the session can never sign afterwards. */
  abort(): void {
    if (this.stateValue !== 'signed') this.stateValue = 'aborted';
    this.dropNonces();
  }

  private dropNonces(): void {
    if (this.nonces) {
      this.nonces.hiding.fill(0);
      this.nonces.binding.fill(0);
    }
    this.nonces = undefined;
  }

  private blamePoints(commitments: readonly WireCommitment[]): void {
    for (const c of commitments) {
      if (c.identifier === this.key.identifier) continue;
      const ok = [c.hiding, c.binding].every((h) => isValidElement(this.key.scheme, Buffer.from(h, 'hex')));
      if (!ok) throw new CosignerError('ERR_BAD_SHARE', 'invalid or identity commitment point', { details: { sessionId: this.binding.sessionId, identifier: c.identifier } });
    }
  }

  private parseCommitments(commitments: readonly WireCommitment[]): NonceCommitments[] {
    const sid = this.binding.sessionId;
    if (!Array.isArray(commitments) || commitments.length !== this.binding.signers.length) {
      throw new CosignerError('ERR_SESSION_ABORTED', 'commitment list does not match the signer set', { details: { sessionId: sid } });
    }
    const seen = new Set<number>();
    const out: NonceCommitments[] = [];
    const pointBytes = this.key.scheme === 'frost-ed25519' ? 32 : 33;
    for (const c of commitments) {
      const ident = c?.identifier;
      if (typeof ident !== 'number' || !this.binding.signers.includes(ident)) {
        throw new CosignerError('ERR_SESSION_ABORTED', 'commitment from a participant outside the signer set', { details: { sessionId: sid } });
      }
      if (seen.has(ident)) throw new CosignerError('ERR_SESSION_ABORTED', 'duplicate identifier in commitment list', { details: { sessionId: sid, identifier: ident } });
      seen.add(ident);
      let hiding: Uint8Array;
      let binding: Uint8Array;
      try {
        hiding = fromHex(c.hiding, { bytes: pointBytes, field: 'hiding' });
        binding = fromHex(c.binding, { bytes: pointBytes, field: 'binding' });
      } catch {
        throw new CosignerError('ERR_BAD_SHARE', 'malformed commitment', { details: { sessionId: sid, identifier: ident } });
      }
      if (ident === this.key.identifier) {
        const own = this.own as NonceCommitments;
        if (toHex(hiding) !== toHex(own.hiding) || toHex(binding) !== toHex(own.binding)) {
          throw new CosignerError('ERR_SESSION_ABORTED', 'own commitment altered in the commitment list', { details: { sessionId: sid } });
        }
      }
      out.push({ identifier: identifierOf(this.suite, ident), hiding, binding } as NonceCommitments);
    }
    return out;
  }
}
