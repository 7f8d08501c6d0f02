// Both sides of the coordinator link. The threshold-signing values that travel in coordinator
// messages (proto/coordinator/messages.ts): scheme names, DKG round packages and signing
// commitments, as hex strings and participant identifiers. enclave/mpc produces and consumes them.

/** The threshold signature schemes a key share can belong to. */
export type ThresholdScheme = 'frost-ed25519' | 'frost-secp256k1-tr' | 'dkls23-secp256k1';

/** A DKG round-1 broadcast as it travels. */
export interface WireDkgRound1 {
  readonly identifier: number;
  readonly commitment: readonly string[];
  readonly proofOfKnowledge: string;
  /**
   * SHA-256 commitment (hex, 32 bytes) to this participant's fresh chain-code contribution,
   * domain-separated and bound to its identifier and first commitment point (enclave/mpc/dkg.ts).
   */
  readonly chainCodeCommitment: string;
}

/** A DKG round-2 package from one participant to another. Secret. */
export interface WireDkgRound2 {
  readonly from: number;
  readonly to: number;
  readonly signingShare: string;
  /** The sender's chain-code contribution (hex, 32 bytes), the same in every package it sends. Not secret. */
  readonly chainCodeReveal: string;
}

/** A participant's round-1 output as it travels: identifier number and hex-encoded points. */
export interface WireCommitment {
  readonly identifier: number;
  readonly hiding: string;
  readonly binding: string;
}

/**
 * A threshold ECDSA (DKLs23) protocol message as it travels (proto/coordinator/ecdsa-messages.ts):
 * participant identifiers (`to` 0 = broadcast) and the compact binary payload in base64.
 */
export interface WireEcdsaMessage {
  readonly from: number;
  readonly to: number;
  readonly payload: string;
}
