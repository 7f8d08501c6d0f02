// Runs in the enclave. Before secrets.key is created (setup) or opened (every unseal), the enclave
// reads the KMS key's policy itself, over its own TLS to KMS through the parent's relay, and refuses
// a key the parent could use on its own (proto/kms/policy-admission.ts, docs/key-policy.md). The
// parent relays only ciphertext, so it cannot substitute a friendlier policy in the response.
import { GetKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CosignerError } from '../../proto/errors.ts';
import { requireAdmissibleKeyPolicy, type PolicyAdmission } from '../../proto/kms/policy-admission.ts';
import { kmsError } from './errors.ts';

/** Bound on the policy text (KMS's own limit is 32 KiB). */
const MAX_POLICY_CHARS = 32 * 1024;

/**
 * Reads the key policy of `keyArn` and throws ERR_KMS_KEY_UNSAFE unless it admits only measured
 * enclave images. A policy the instance role may not read is refused the same way: the enclave
 * cannot check it.
 *
 * @example const admission = await admitKmsKey(kms, keyArn); // before GenerateDataKey / Decrypt
 */
export async function admitKmsKey(kms: KMSClient, keyArn: string): Promise<PolicyAdmission> {
  let text: unknown;
  try {
    const r = await kms.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
    text = r.Policy;
  } catch (err) {
    const e = kmsError(err, 'GetKeyPolicy');
    if (e.code === 'ERR_KMS_ACCESS_DENIED') {
      throw new CosignerError('ERR_KMS_KEY_UNSAFE', `refusing KMS key ${keyArn.slice(0, 200)}: its policy does not let the instance role read it (kms:GetKeyPolicy), so the enclave cannot check who may use it; regenerate it with \`cosigner key-policy\``, {
        details: { keyArn: keyArn.slice(0, 200), operation: 'GetKeyPolicy' },
      });
    }
    throw e;
  }
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_POLICY_CHARS) {
    throw new CosignerError('ERR_KMS', 'KMS GetKeyPolicy returned no usable policy');
  }
  return requireAdmissibleKeyPolicy(text, keyArn);
}
