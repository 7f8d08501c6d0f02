// Runs in the enclave. The one-use recipient key for a KMS request with an attested Recipient:
// a fresh RSA-2048 key pair, an attestation document carrying its public key, the KMS call, the
// CMS envelope opened, and the private key dropped (DESIGN invariant 3). The key never leaves
// this function; KMS can only seal to the key the measured image just generated.
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Attestor } from '../../proto/attestation/types.ts';
import { openEnvelope } from '../kms/open-envelope.ts';
import { CosignerError } from '../../proto/errors.ts';

const genKeyPair = promisify(generateKeyPair);

/** What a Recipient-bearing KMS request carries. */
export interface RecipientParam {
  readonly KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256';
  readonly AttestationDocument: Uint8Array;
}

/** Timings of the stages, for the benchmark and logs (milliseconds). */
export interface RecipientTimings {
  rsaKeygenMs: number;
  attestMs: number;
  kmsMs: number;
  openMs: number;
}

/**
 * Runs `call` with a fresh attested Recipient and returns the opened CiphertextForRecipient.
 * `call` must return the response's CiphertextForRecipient (or throw).
 */
export async function withRecipient(
  attestor: Attestor,
  call: (recipient: RecipientParam) => Promise<Uint8Array | undefined>,
  timings?: RecipientTimings,
): Promise<Buffer> {
  let t = performance.now();
  const { publicKey, privateKey } = (await genKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 })) as { publicKey: KeyObject; privateKey: KeyObject };
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  if (timings) timings.rsaKeygenMs = performance.now() - t;
  t = performance.now();
  const doc = await attestor.attest({ publicKey: new Uint8Array(spki) });
  if (timings) timings.attestMs = performance.now() - t;
  t = performance.now();
  const envelope = await call({ KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: doc });
  if (timings) timings.kmsMs = performance.now() - t;
  if (!envelope || envelope.length === 0) throw new CosignerError('ERR_CMS_MALFORMED', 'KMS response carries no CiphertextForRecipient');
  t = performance.now();
  const plain = openEnvelope(envelope, privateKey);
  if (timings) timings.openMs = performance.now() - t;
  // privateKey goes out of scope here; JS cannot zero a KeyObject, but nothing keeps a reference.
  return plain;
}
