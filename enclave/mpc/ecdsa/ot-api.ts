// Runs in the enclave and in the reference coordinator. The seam between the DKLs23 threshold ECDSA
// protocol (enclave/mpc/ecdsa/*.ts) and its oblivious-transfer layer (enclave/mpc/ecdsa/ot/): the
// pairwise OT setup run once per pair of parties during key generation (and again at refresh), and
// the two-round random vector OLE (DKLs23 Functionality 3.5) each signature runs per ordered pair.
// Scalars are bigints mod the secp256k1 group order n. Every check failure throws a CosignerError
// with code ERR_PEER_CHEATED and details { identifier: <peer>, check: '<name of the check>' }.

/** Randomness source: `bytes` fresh random bytes. Production uses the CSPRNG; only tests seed one. */
export type Rng = (bytes: number) => Uint8Array;

/** One side of the pairwise OT setup between this party and one peer (both directions at once). */
export interface PairwiseSetupParty {
  /** Number of message exchanges. In exchange k both sides send one message to each other. */
  readonly exchanges: number;
  /**
   * Exchange k (k = 1..exchanges): the peer's message of exchange k-1 (undefined for k = 1) in,
   * this side's message of exchange k out.
   */
  send(incoming: Uint8Array | undefined): Uint8Array;
  /**
   * After the last exchange: the peer's last message in, the secret pairwise state out (sealed
   * with the key share; bytes whose layout only the OT layer reads). Single use.
   */
  finish(incoming: Uint8Array): Uint8Array;
  /** Erases secret state; the setup cannot continue. */
  abort(): void;
}

export interface PairwiseSetupParams {
  /** Bytes both sides agree on that name this setup (key generation or refresh transcript id). */
  readonly transcript: Uint8Array;
  readonly self: number;
  readonly peer: number;
  readonly rng?: Rng;
}

export interface RvoleParams {
  /** This pair's sealed state from PairwiseSetupParty.finish. */
  readonly pairwise: Uint8Array;
  /** Bytes naming this one multiplication (signing session, key, message, signer set, direction). */
  readonly transcript: Uint8Array;
  readonly self: number;
  readonly peer: number;
  readonly rng?: Rng;
}

/**
 * The receiver ("Bob") of one RVOLE: its input χ is random, chosen here. msg1 goes to the sender;
 * finish(msg2) checks the sender's reply and returns d with c + d = a·χ (mod n), elementwise, and
 * erases the receiver's OT secrets (choice bits, extension rows) whether it succeeds or throws;
 * χ stays readable until abort() (the caller still needs it for its own checks).
 */
export interface RvoleReceiver {
  readonly msg1: Uint8Array;
  readonly chi: bigint;
  finish(msg2: Uint8Array): readonly [bigint, bigint];
  /**
   * Erases every secret the receiver still holds (choice bits, rows, χ — read as 0n afterwards).
   * Idempotent; safe after finish. A later finish throws ERR_SESSION_ABORTED.
   */
  abort(): void;
}

/** The sender ("Alice") of one RVOLE with input a = (a0, a1): msg2 for the receiver and its share c. */
export interface RvoleSenderResult {
  readonly msg2: Uint8Array;
  readonly c: readonly [bigint, bigint];
}

/** What the DKLs23 protocol needs from the OT layer. */
export interface OtLayer {
  pairwiseSetup(p: PairwiseSetupParams): PairwiseSetupParty;
  rvoleReceive(p: RvoleParams): RvoleReceiver;
  rvoleSend(p: RvoleParams & { readonly msg1: Uint8Array; readonly inputs: readonly [bigint, bigint] }): RvoleSenderResult;
}
