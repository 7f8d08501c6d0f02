// Runs in the enclave. Maps what the KMS SDK throws (service exceptions, network failures) to the
// typed CosignerError codes, keeping only the exception name: KMS messages can echo ARNs and
// context, which are not secret, but nothing else from the response is carried along.
import { CosignerError, type ErrorCode } from '../../proto/errors.ts';

const BY_NAME: Record<string, ErrorCode> = {
  AccessDeniedException: 'ERR_KMS_ACCESS_DENIED',
  InvalidCiphertextException: 'ERR_KMS_INVALID_CIPHERTEXT',
  IncorrectKeyException: 'ERR_KMS_INVALID_CIPHERTEXT',
  KMSInternalException: 'ERR_KMS_UNAVAILABLE',
  DependencyTimeoutException: 'ERR_KMS_UNAVAILABLE',
  ThrottlingException: 'ERR_KMS_UNAVAILABLE',
  UnrecognizedClientException: 'ERR_CREDENTIALS',
  InvalidSignatureException: 'ERR_CREDENTIALS',
  ExpiredTokenException: 'ERR_CREDENTIALS',
};

/**
 * Turns anything a KMS call threw into a CosignerError. `operation` names the call for the message.
 */
export function kmsError(err: unknown, operation: string): CosignerError {
  if (err instanceof CosignerError) return err;
  const name = (err as { name?: unknown })?.name;
  const n = typeof name === 'string' ? name : 'Error';
  const mapped = BY_NAME[n];
  if (mapped === 'ERR_KMS_ACCESS_DENIED') {
    return new CosignerError(mapped, `KMS denied ${operation}: the key policy does not admit this enclave image (or this principal)`, {
      details: { operation, kmsError: n },
    });
  }
  if (mapped) return new CosignerError(mapped, `KMS ${operation} failed: ${n}`, { details: { operation, kmsError: n } });
  const fault = (err as { $fault?: unknown })?.$fault;
  const meta = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata;
  if (fault === 'client' && meta?.httpStatusCode !== undefined) {
    return new CosignerError('ERR_KMS', `KMS ${operation} failed: ${n}`, { details: { operation, kmsError: n } });
  }
  // Network, TLS or 5xx: the parent may have dropped the tunnel; retrying may help.
  return new CosignerError('ERR_KMS_UNAVAILABLE', `KMS ${operation} unreachable: ${n}`, { details: { operation, kmsError: n } });
}
