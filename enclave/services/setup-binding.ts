// Runs in the enclave. The setup parameters a secrets.key is bound to: the coordinator (URL and
// public key) and the workspace owner's key. Their digest is an EncryptionContext entry of
// secrets.key (enclave/vault/vault.ts SETUP_CONTEXT_KEY), so KMS — not the parent — decides whether a
// stored secrets.key may be used under given parameters: a parent that hides secrets.db and asks to
// "finish the unfinished setup" with its own coordinator and owner key gets nothing from KMS.
import { canonicalDigest } from '../../proto/coordinator/approval-signature.ts';
import { ownerKeyFingerprint } from '../../proto/coordinator/owner-approval.ts';
import { CosignerError } from '../../proto/errors.ts';
import type { SecretsState } from '../vault/records.ts';

/** SHA-256 hex of the canonical {coordinatorUrl, coordinatorKeyFingerprint, ownerKeyFingerprint}. */
export function setupBinding(s: Pick<SecretsState, 'coordinator' | 'owner'>): string {
  if (!s.owner) throw new CosignerError('ERR_INVALID_ARGUMENT', 'setup needs the workspace owner key');
  return canonicalDigest({
    coordinatorUrl: s.coordinator.url,
    // The SPKI SHA-256 of any public key; the same fingerprint `status` shows for the owner.
    coordinatorKeyFingerprint: ownerKeyFingerprint(s.coordinator.publicKeyPem),
    ownerKeyFingerprint: ownerKeyFingerprint(s.owner.publicKeyPem),
  });
}

export function setupMismatch(cause?: unknown): CosignerError {
  return new CosignerError(
    'ERR_SETUP_MISMATCH',
    'the stored secrets.key was created for another coordinator or owner key: an unfinished setup can only be finished with the parameters it started with; nothing was sealed',
    cause !== undefined ? { cause } : {},
  );
}
