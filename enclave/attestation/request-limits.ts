// Enclave. Bounds on what the enclave asks an Attestor for, identical for the NSM and the
// development authority so local mode rejects exactly what production would.
import { CosignerError } from '../../proto/errors.ts';
import { MAX_OPTIONAL_FIELD_BYTES, MAX_REQUEST_FIELD_BYTES } from '../../proto/attestation/document.ts';
import type { AttestRequest } from '../../proto/attestation/types.ts';

/** Largest getRandom request (the NSM returns 256 bytes per call: at most 16 calls). */
export const MAX_RANDOM_BYTES = 4096;

/** Checks an attestation request's sizes the way the NSM does. Throws ERR_INVALID_ARGUMENT. */
export function checkAttestRequest(req: AttestRequest): void {
  const check = (name: string, v: Uint8Array | undefined, max: number): void => {
    if (v === undefined) return;
    if (!(v instanceof Uint8Array)) throw new CosignerError('ERR_INVALID_ARGUMENT', `${name} must be bytes`);
    if (v.length > max) throw new CosignerError('ERR_INVALID_ARGUMENT', `${name} longer than ${max} bytes`);
  };
  check('user_data', req.userData, MAX_REQUEST_FIELD_BYTES);
  check('nonce', req.nonce, MAX_REQUEST_FIELD_BYTES);
  check('public_key', req.publicKey, MAX_OPTIONAL_FIELD_BYTES);
}
