// Shared by both sides of the trust boundary: one typed error family whose `code` travels over the
// wire as the `ErrorCode` enum in cosigner.proto (test/proto/errors.test.ts keeps the two in step),
// so neither side ever matches on message text.

/**
 * Every error code nitro-cosigner can produce. Stable strings: scripts match on them, never on the
 * message. Add new codes at the end of their group and mirror them in `proto/cosigner.proto`.
 */
export const ERROR_CODES = {
  // generic
  ERR_INTERNAL: { retryable: false, fault: 'server' },
  ERR_INVALID_ARGUMENT: { retryable: false, fault: 'client' },
  ERR_NOT_FOUND: { retryable: false, fault: 'client' },
  ERR_ALREADY_EXISTS: { retryable: false, fault: 'client' },
  ERR_PERMISSION_DENIED: { retryable: false, fault: 'client' },
  ERR_UNAVAILABLE: { retryable: true, fault: 'server' },
  ERR_BUSY: { retryable: true, fault: 'server' },
  ERR_TIMEOUT: { retryable: true, fault: 'server' },
  ERR_CANCELLED: { retryable: false, fault: 'client' },
  ERR_LIMIT_EXCEEDED: { retryable: false, fault: 'client' },
  ERR_CONFIG_INVALID: { retryable: false, fault: 'client' },
  ERR_NOT_IMPLEMENTED: { retryable: false, fault: 'server' },
  ERR_STATE: { retryable: false, fault: 'client' },
  // wire
  ERR_FRAME_TOO_LARGE: { retryable: false, fault: 'client' },
  ERR_FRAME_TRUNCATED: { retryable: false, fault: 'client' },
  ERR_FRAME_MALFORMED: { retryable: false, fault: 'client' },
  ERR_PROTOCOL_VERSION: { retryable: false, fault: 'client' },
  ERR_BUILD_MISMATCH: { retryable: false, fault: 'client' },
  ERR_CONNECTION_CLOSED: { retryable: true, fault: 'server' },
  ERR_STREAM_RESET: { retryable: true, fault: 'server' },
  ERR_FLOW_CONTROL: { retryable: false, fault: 'client' },
  ERR_DEADLINE_EXCEEDED: { retryable: true, fault: 'server' },
  ERR_UNKNOWN_METHOD: { retryable: false, fault: 'client' },
  ERR_TRANSPORT_URL: { retryable: false, fault: 'client' },
  ERR_VSOCK_UNAVAILABLE: { retryable: false, fault: 'server' },
  ERR_EGRESS_DENIED: { retryable: false, fault: 'client' },
  ERR_EGRESS_FAILED: { retryable: true, fault: 'server' },
  ERR_LINK_BUSY: { retryable: true, fault: 'server' },
  // attestation
  ERR_ATTESTATION_MALFORMED: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_SIGNATURE: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_CHAIN: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_EXPIRED: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_PCR_MISMATCH: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_DEBUG: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_NONCE: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_USER_DATA: { retryable: false, fault: 'client' },
  ERR_ATTESTATION_STALE: { retryable: false, fault: 'client' },
  ERR_NSM: { retryable: false, fault: 'server' },
  // kms and sealing
  ERR_KMS_ACCESS_DENIED: { retryable: false, fault: 'client' },
  ERR_KMS_INVALID_CIPHERTEXT: { retryable: false, fault: 'client' },
  ERR_KMS_UNAVAILABLE: { retryable: true, fault: 'server' },
  ERR_KMS: { retryable: false, fault: 'server' },
  ERR_CMS_MALFORMED: { retryable: false, fault: 'client' },
  ERR_CREDENTIALS: { retryable: true, fault: 'server' },
  ERR_SEALED: { retryable: false, fault: 'client' },
  ERR_NOT_SET_UP: { retryable: false, fault: 'client' },
  ERR_ALREADY_SET_UP: { retryable: false, fault: 'client' },
  ERR_SECRETS_KEY_CORRUPT: { retryable: false, fault: 'client' },
  ERR_SECRETS_DB_CORRUPT: { retryable: false, fault: 'client' },
  ERR_ROLLBACK: { retryable: false, fault: 'client' },
  ERR_GENERATION_CONFLICT: { retryable: true, fault: 'client' },
  ERR_STORAGE: { retryable: true, fault: 'server' },
  ERR_DISK_FULL: { retryable: true, fault: 'server' },
  // The configured S3 bucket is missing, unversioned or not writable by the instance role (370..379: durable storage).
  ERR_BUCKET_UNUSABLE: { retryable: false, fault: 'client' },
  // The KMS key's policy lets someone other than a measured enclave image use the key (docs/key-policy.md).
  ERR_KMS_KEY_UNSAFE: { retryable: false, fault: 'client' },
  // A sealed write before the coordinator stated its rollback floor for this unseal.
  ERR_ROLLBACK_FLOOR_UNKNOWN: { retryable: true, fault: 'server' },
  // The write is sealed and stored, but the coordinator did not acknowledge its generation in time.
  ERR_WRITE_UNACKNOWLEDGED: { retryable: false, fault: 'server' },
  ERR_SETUP_MISMATCH: { retryable: false, fault: 'client' },
  // owner-authorised changes (330..339): proposals the parent made, approved only by the owner's key
  ERR_CHANGE_EXPIRED: { retryable: false, fault: 'client' },
  ERR_OWNER_APPROVAL_INVALID: { retryable: false, fault: 'client' },
  ERR_OWNER_KEY_MISSING: { retryable: false, fault: 'client' },
  ERR_ROTATION_INVALID: { retryable: false, fault: 'client' },
  // attested identity, owner-signed activation, threshold rule
  ERR_ATTESTATION_REFUSED: { retryable: false, fault: 'client' },
  ERR_THRESHOLD_POLICY: { retryable: false, fault: 'client' },
  ERR_ACTIVATION_INVALID: { retryable: false, fault: 'client' },
  // transactions (360..369): derivation paths and raw transactions the enclave checks itself
  ERR_DERIVATION_UNSUPPORTED: { retryable: false, fault: 'client' },
  ERR_PAYLOAD_MISMATCH: { retryable: false, fault: 'client' },
  ERR_TX_FORMAT: { retryable: false, fault: 'client' },
  // A pairing whose co-signer has not confirmed its sealed share (pair.commit): retry add-user.
  ERR_PAIRING_UNCOMMITTED: { retryable: true, fault: 'client' },
  // approvals
  ERR_CALLBACK_REJECTED: { retryable: false, fault: 'client' },
  ERR_CALLBACK_TIMEOUT: { retryable: true, fault: 'server' },
  ERR_CALLBACK_HTTP: { retryable: true, fault: 'server' },
  ERR_CALLBACK_SIGNATURE: { retryable: false, fault: 'server' },
  ERR_CALLBACK_REQUEST_ID: { retryable: false, fault: 'server' },
  ERR_CALLBACK_MALFORMED: { retryable: false, fault: 'server' },
  ERR_CALLBACK_TLS: { retryable: false, fault: 'server' },
  ERR_CALLBACK_RETRY_EXHAUSTED: { retryable: false, fault: 'server' },
  ERR_CALLBACK_IGNORED: { retryable: false, fault: 'server' },
  ERR_POLICY_DENIED: { retryable: false, fault: 'client' },
  // threshold signing and the coordinator
  ERR_PAIRING_TOKEN_INVALID: { retryable: false, fault: 'client' },
  ERR_PAIRING_TOKEN_EXPIRED: { retryable: false, fault: 'client' },
  ERR_PAIRING_TOKEN_REUSED: { retryable: false, fault: 'client' },
  ERR_USER_PENDING: { retryable: true, fault: 'client' },
  ERR_SESSION_ABORTED: { retryable: false, fault: 'client' },
  ERR_SESSION_NOT_FOUND: { retryable: false, fault: 'client' },
  ERR_NONCE_REUSE: { retryable: false, fault: 'client' },
  ERR_BAD_SHARE: { retryable: false, fault: 'client' },
  ERR_MESSAGE_MISMATCH: { retryable: false, fault: 'client' },
  ERR_UNSUPPORTED_SCHEME: { retryable: false, fault: 'client' },
  ERR_COORDINATOR_AUTH: { retryable: false, fault: 'client' },
  ERR_COORDINATOR_UNAVAILABLE: { retryable: true, fault: 'server' },
  // A peer failed a check of the threshold ECDSA protocol (details: identifier, check): the session
  // is aborted and the key marked "refresh required" (enclave/mpc/ecdsa/).
  ERR_PEER_CHEATED: { retryable: false, fault: 'client' },
  // The key was marked after a peer failed a protocol check: it signs again only after a key refresh.
  ERR_KEY_REFRESH_REQUIRED: { retryable: false, fault: 'client' },
  // operations
  ERR_ENCLAVE_NOT_RUNNING: { retryable: true, fault: 'server' },
  ERR_ENCLAVE_START: { retryable: true, fault: 'server' },
  ERR_NITRO_CLI: { retryable: true, fault: 'server' },
  ERR_CONTROL_SOCKET: { retryable: false, fault: 'client' },
  ERR_UPGRADE_REFUSED: { retryable: false, fault: 'client' },
  ERR_UPGRADE_ROLLED_BACK: { retryable: false, fault: 'server' },
  ERR_USAGE: { retryable: false, fault: 'client' },
  // `cosigner backups restore` of a generation older than the newest: the coordinator's rollback floor would refuse it.
  ERR_RESTORE_REFUSED: { retryable: false, fault: 'client' },
  // The production enclave could not drop to its unprivileged user (enclave/services/drop-privileges.ts).
  ERR_PRIVILEGE_DROP: { retryable: false, fault: 'server' },
} as const satisfies Record<string, { retryable: boolean; fault: 'client' | 'server' }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/**
 * The one error type of nitro-cosigner. `code` is stable; `retryable` tells a caller whether the
 * same request may succeed later; `fault` whether the caller or the callee is to blame.
 * `details` must never hold a secret: it is logged and may cross the wire.
 */
export class CosignerError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly fault: 'client' | 'server';
  readonly details: Readonly<Record<string, string | number | boolean>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string | number | boolean>; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CosignerError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.fault = ERROR_CODES[code].fault;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, string | number | boolean> } {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.details ? { details: { ...this.details } } : {}) };
  }
}

/** Narrow anything thrown into a CosignerError without losing the original as `cause`. */
export function toCosignerError(err: unknown, fallback: ErrorCode = 'ERR_INTERNAL'): CosignerError {
  if (err instanceof CosignerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CosignerError(fallback, message, { cause: err });
}
