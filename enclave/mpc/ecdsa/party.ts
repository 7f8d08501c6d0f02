// Runs in the enclave and in the reference coordinator. How the DKLs23 protocol's participants
// talk: each protocol (key generation, refresh, signing) is a round-based party that turns the
// messages addressed to it in one round into its messages of the next. Payloads are compact binary
// (enclave/mpc/ecdsa/codec.ts); the coordinator link carries them base64-encoded and routes them.

/** One protocol message. `to` is a participant identifier, or 0 for every other participant. */
export interface PartyMessage {
  readonly from: number;
  readonly to: number;
  readonly payload: Uint8Array;
}

export interface StepOutput<T> {
  /** This party's messages of the round just computed (empty when it has nothing to send). */
  readonly messages: readonly PartyMessage[];
  /** Set on the last step: the protocol's output. */
  readonly result?: T;
}

/**
 * One participant of one protocol run. step() is called once per round, in order: the first call
 * with no messages, every later one with exactly the messages the other participants addressed to
 * this one in the previous round. Anything missing, repeated, unexpected or failing a check aborts
 * the run for good (a typed CosignerError naming the peer where one is to blame).
 */
export interface RoundParty<T> {
  readonly identifier: number;
  step(incoming: readonly PartyMessage[]): StepOutput<T>;
  /** Erases every secret; the run cannot continue. Idempotent. */
  abort(): void;
}
