// The local stack's KMS stand-in has a key administrator besides the instance role: only the admin
// may PutKeyPolicy (so an upgrade to new measurements can be rehearsed locally), and a restarted
// stack on the same dir keeps both the admin's credentials and the key.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { putKeyPolicyAs } from '../../../local/stack/kms-admin.ts';
import { startImdsStep, startKmsStep, type StepContext } from '../../../local/stack/standins.ts';
import { LOCAL_ADMIN_ARN, type StackPaths } from '../../../local/stack/types.ts';
import { ImdsCredentialSource } from '../../../parent/credentials/imds.ts';
import { buildKeyPolicy } from '../../../proto/kms/key-policy.ts';
import { tempDir } from '../../support/temp-dir.ts';

const hex = (c: string): string => c.repeat(96);
const measurements = (pcr0: string) => ({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: pcr0, PCR1: hex('b'), PCR2: hex('c') } });

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

async function startKms(dir: string, caPem: string, issue: StepContext['serverCert']) {
  // The KMS step writes only the policy of the stack's paths.
  const ctx: StepContext = { dir, paths: { policy: join(dir, 'key-policy.json') } as StackPaths, log: () => undefined, closers, serverCert: issue };
  const imds = await startImdsStep(ctx);
  const measurementsPath = join(dir, 'measurements.json');
  writeFileSync(measurementsPath, JSON.stringify(measurements(hex('a'))));
  const kms = await startKmsStep(ctx, { devRootPem: caPem, imds, bundlePath: join(dir, 'no-bundle.mjs'), measurementsPath });
  return { kms, imds };
}

describe('local stack KMS stand-in: key administrator', () => {
  it('the admin may PutKeyPolicy with new measurements; the instance role may not; a restart keeps admin and key', async () => {
    const dir = tempDir('ncs-kms-admin-');
    const ca = await createEphemeralCa();
    const issue = () => ca.issueServerCert(['localhost', '127.0.0.1']);
    const { kms, imds } = await startKms(dir, ca.certPem, issue);
    expect(kms.admin.arn).toBe(LOCAL_ADMIN_ARN);
    const upgraded = buildKeyPolicy({
      measurements: { PCR0: hex('d'), PCR1: hex('b'), PCR2: hex('c') },
      instanceRoleArn: imds.roleArn,
      adminArn: LOCAL_ADMIN_ARN,
    });

    const role = await new ImdsCredentialSource({ endpoint: imds.url }).get();
    await expect(putKeyPolicyAs(kms, role, ca.certPem, upgraded)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(putKeyPolicyAs(kms, { accessKeyId: kms.admin.accessKeyId, secretAccessKey: 'wrong-secret-wrong-secret-wrong!' }, ca.certPem, upgraded)).rejects.toBeTruthy();
    await putKeyPolicyAs(kms, kms.admin, ca.certPem, upgraded);

    for (const c of closers.splice(0).reverse()) await c();
    const again = await startKms(dir, ca.certPem, issue);
    expect(again.kms.keyArn).toBe(kms.keyArn);
    expect(again.kms.admin).toEqual(kms.admin);
    // The stored policy is the admin's (PCR0 d…), and the admin can still change it after the restart.
    await putKeyPolicyAs(again.kms, again.kms.admin, ca.certPem, upgraded);
  });
});
