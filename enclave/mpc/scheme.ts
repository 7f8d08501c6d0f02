// Runs in the enclave. The seam between the co-signer's protocol plumbing (enclave/upstream) and a
// threshold signature scheme. FROST Ed25519 and FROST secp256k1-TR implement it today; a threshold
// ECDSA implementation (see docs/ecdsa.md) would implement the same two factories. Every round is a
// list of messages in and a list of messages out, so multi-round protocols (DKLs23: 3 signing
// rounds; CGGMP21: 3-4 plus pre-signing) fit without changing the transport.
import type { KeyShareRecord, ThresholdScheme } from '../vault/records.ts';
import { DkgSession, type WireDkgRound1, type WireDkgRound2 } from './dkg.ts';
import { FrostSigningSession, type WireCommitment } from './signing-session.ts';

/** One protocol message, addressed to one participant (`to`) or broadcast (`to` absent). */
export interface RoundMessage {
  readonly round: number;
  readonly from: number;
  readonly to?: number;
  /** Scheme-specific JSON body; bounded by the transport's frame limit. */
  readonly body: unknown;
}

/** What a round returns: messages to send, and the result once the protocol is complete. */
export interface RoundOutput<T> {
  readonly outbound: readonly RoundMessage[];
  readonly result?: T;
}

/**
 * A multi-round protocol instance of one participant. `next` is called once per round with all
 * messages addressed to this participant for the previous round (none for round 1). Implementations
 * must abort (and erase secrets) on any repeated, conflicting or out-of-order input.
 */
export interface RoundSession<T> {
  readonly round: number;
  next(inbound: readonly RoundMessage[]): RoundOutput<T>;
  abort(): void;
}

/** What a signing protocol needs to start. */
export interface SigningContext {
  readonly sessionId: string;
  readonly key: KeyShareRecord;
  readonly message: Uint8Array;
  readonly signers: readonly number[];
}

/** What key generation needs to start. */
export interface DkgContext {
  readonly scheme: ThresholdScheme | string;
  readonly threshold: number;
  readonly participants: readonly number[];
  readonly identifier: number;
  readonly now: number;
}

/** A threshold scheme the co-signer can run. `result` of signing is this party's final output. */
export interface ThresholdSchemeImpl {
  readonly schemes: readonly string[];
  newSigning(ctx: SigningContext): RoundSession<{ readonly signatureShare: string }>;
  newDkg(ctx: DkgContext): RoundSession<KeyShareRecord>;
}

/** FROST through the generic round interface (round 1: commitments; round 2: share). */
export const frostScheme: ThresholdSchemeImpl = {
  schemes: ['frost-ed25519', 'frost-secp256k1-tr'],
  newSigning(ctx) {
    const s = new FrostSigningSession(ctx);
    let round = 0;
    return {
      get round() {
        return round;
      },
      next(inbound) {
        round++;
        if (round === 1) return { outbound: [{ round: 1, from: ctx.key.identifier, body: s.commit() }] };
        if (round === 2) {
          const list = inbound.filter((m) => m.round === 1).map((m) => m.body as WireCommitment);
          const signatureShare = s.sign(list, { sessionId: ctx.sessionId, keyId: ctx.key.keyId, messageDigest: s.binding.messageDigest });
          return { outbound: [{ round: 2, from: ctx.key.identifier, body: { signatureShare } }], result: { signatureShare } };
        }
        s.abort();
        return s.sign([], s.binding) as never; // throws: the session is over
      },
      abort: () => s.abort(),
    };
  },
  newDkg(ctx) {
    const d = new DkgSession({ ...ctx, scheme: ctx.scheme as ThresholdScheme });
    let round = 0;
    return {
      get round() {
        return round;
      },
      next(inbound) {
        round++;
        const me = ctx.identifier;
        if (round === 1) return { outbound: [{ round: 1, from: me, body: d.round1() }] };
        if (round === 2) {
          const out = d.round2(inbound.map((m) => m.body as WireDkgRound1));
          return { outbound: out.map((p) => ({ round: 2, from: me, to: p.to, body: p })) };
        }
        return { outbound: [], result: d.round3(inbound.map((m) => m.body as WireDkgRound2)) };
      },
      abort: () => d.abort(),
    };
  },
};
