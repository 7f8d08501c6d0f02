// Runs on the parent (the `cosigner` CLI). `cosigner upgrade --eif NEW.eif --measurements NEW.json`:
// before the running enclave is touched, check that the KMS key policy would release secrets.key to
// the new image (GetKeyPolicy with the parent's own credentials, or a policy file), and refuse with an
// explanation when it would not: starting an image the policy locks out would leave the co-signer
// unable to unseal. The daemon then switches images and rolls back by itself if the new one fails.
import { readFile } from 'node:fs/promises';
import { GetKeyPolicyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { parseKeyPolicy, parseMeasurements, policyAdmits, type KeyPolicy, type Measurements } from '../../proto/kms/key-policy.ts';
import { usage } from './io.ts';

export interface UpgradeCheckInput {
  readonly measurementsPath: string;
  readonly instanceRoleArn: string;
  /** A key policy file; otherwise fetched from KMS. */
  readonly policyPath?: string;
  readonly kmsKeyArn?: string;
  readonly region?: string;
  readonly kmsEndpoint?: string;
}

/** Read the measurements file (nitro-cli build-enclave output). Debug (all-zero) PCRs are refused. */
export async function readMeasurements(path: string): Promise<Measurements> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw usage(`cannot read measurements ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return parseMeasurements(JSON.parse(text));
  } catch (err) {
    throw new CosignerError('ERR_UPGRADE_REFUSED', `upgrade refused: ${path} is not usable measurements: ${toCosignerError(err).message}`);
  }
}

/** The key policy: from a file, or KMS GetKeyPolicy with the default credential chain (the instance role). */
export async function loadKeyPolicy(i: UpgradeCheckInput): Promise<KeyPolicy> {
  if (i.policyPath) {
    try {
      return parseKeyPolicy(await readFile(i.policyPath, 'utf8'));
    } catch (err) {
      throw usage(`cannot use key policy file ${i.policyPath}: ${toCosignerError(err).message}`);
    }
  }
  if (!i.kmsKeyArn || !i.region) throw usage('upgrade needs --policy FILE, or --kms-key-arn ARN and --region REGION to read the key policy from KMS');
  const kms = new KMSClient({ region: i.region, ...(i.kmsEndpoint ? { endpoint: i.kmsEndpoint } : {}), maxAttempts: 2 });
  try {
    const r = await kms.send(new GetKeyPolicyCommand({ KeyId: i.kmsKeyArn, PolicyName: 'default' }));
    if (!r.Policy) throw new Error('empty policy');
    return parseKeyPolicy(r.Policy);
  } catch (err) {
    const name = (err as { name?: string }).name ?? '';
    throw new CosignerError(
      name === 'AccessDeniedException' ? 'ERR_PERMISSION_DENIED' : 'ERR_KMS',
      `cannot read the key policy of ${i.kmsKeyArn} (${name || toCosignerError(err).message}); grant the instance role kms:GetKeyPolicy or pass --policy FILE`,
      { cause: err },
    );
  } finally {
    kms.destroy();
  }
}

/**
 * Check the new image against the key policy. Returns the measurements when admitted; throws
 * ERR_UPGRADE_REFUSED explaining what to change when not.
 */
export async function checkUpgradeAdmitted(i: UpgradeCheckInput): Promise<Measurements> {
  const m = await readMeasurements(i.measurementsPath);
  const policy = await loadKeyPolicy(i);
  if (!policyAdmits(policy, i.instanceRoleArn, m)) {
    throw new CosignerError(
      'ERR_UPGRADE_REFUSED',
      `upgrade refused: the key policy does not let ${i.instanceRoleArn} decrypt secrets.key from an enclave with PCR0 ${m.PCR0.slice(0, 16)}… (` +
        `the new image would be locked out of its secrets). Add the new measurements as an alternative statement ` +
        `(cosigner key-policy CURRENT.json --also ${i.measurementsPath} --instance-role … --admin …), apply it with PutKeyPolicy, then run the upgrade again.`,
      { details: { pcr0: m.PCR0 } },
    );
  }
  return m;
}
