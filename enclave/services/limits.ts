// Runs in the enclave. Bounds on everything the Control service accepts from the parent (DESIGN
// invariant 7): sizes of strings and PEMs, how many operator requests may wait, how many users.

/** Limits applied to Control requests before any work is done. */
export const CONTROL_LIMITS = {
  /** KMS key ARN (AWS allows 2048 for ARNs). */
  maxArnChars: 2048,
  maxRegionChars: 32,
  maxUrlChars: 2048,
  /** A PEM public key, certificate or root CA. */
  maxPemChars: 16 * 1024,
  /** A coordinator pairing token. */
  maxTokenChars: 8 * 1024,
  maxUserIdChars: 128,
  /** GetAttestation nonce (the NSM accepts at most 512 bytes). */
  maxNonceBytes: 512,
  /** Mutating operator requests (setup, add-user, ...) run one at a time; this many may wait. */
  maxQueuedMutations: 8,
  /** Control requests being served at once (all kinds). */
  maxConcurrentRequests: 32,
  /** API users one co-signer holds. */
  maxUsers: 10_000,
} as const;

/**
 * Boot unseal after a transient failure (KMS or the parent momentarily unreachable): retried for as
 * long as the failure stays transient, waiting 1 s, 2 s, 4 s ... up to 60 s between attempts, so an
 * outage of any length ends in an unsealed co-signer without the operator. Final verdicts (access
 * denied, unsafe key, corrupt DB, rollback) are not retried.
 */
export const BOOT_UNSEAL_RETRY = {
  firstDelayMs: 1_000,
  maxDelayMs: 60_000,
} as const;
