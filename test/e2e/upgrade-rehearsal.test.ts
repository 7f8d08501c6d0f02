// End to end: the documented upgrade (docs/operations.md, "Upgrades") rehearsed on the local stack.
// A second image with other measurements (local/stack/next-image.ts); without the key administrator's
// policy update `cosigner upgrade` is refused (ERR_UPGRADE_REFUSED, exit 5) and the old image keeps
// serving; a policy file that lies to the CLI's check gets past it, but KMS itself refuses the new
// image and the daemon rolls back (ERR_UPGRADE_ROLLED_BACK); once the admin admits the new
// measurements (PutKeyPolicy as the admin) the upgrade succeeds, and the co-signer unseals under the
// new image and signs with the same keys.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDaemon } from '../../parent/control/client.ts';
import { verifyWithStandardVerifier } from '../../local/demo.ts';
import { putKeyPolicyAs } from '../../local/stack/kms-admin.ts';
import { makeNextImage, type NextImage } from '../../local/stack/next-image.ts';
import { buildKeyPolicy, parseMeasurements } from '../../proto/kms/key-policy.ts';
import { cliJson, setUpStack, signingReady, waitForStatus, type E2eStack } from './helpers.ts';

const msg = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('end to end: an upgrade rehearsed on the local stack', () => {
  let e: E2eStack;
  let oldImage: string;
  let next: NextImage;
  let roleArn: string;
  let publicKey: string | undefined;

  const image = async (): Promise<string | undefined> => (await (callDaemon(e.stack.paths.controlSocket, 'status', {}) as Promise<{ supervisor?: { image?: string } }>)).supervisor?.image;
  const upgrade = (measurementsOrPolicy: string[]) =>
    e.stack.cli(['upgrade', '--json', '--eif', next.bundlePath, '--measurements', next.measurementsPath, '--instance-role', roleArn, ...measurementsOrPolicy, '--timeout', '60'], { timeoutMs: 150_000 });
  const fromKms = (): string[] => ['--kms-key-arn', e.stack.kms!.keyArn, '--region', e.stack.kms!.region, '--kms-endpoint', e.stack.kms!.url];
  const signs = async (what: string): Promise<void> => {
    const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg(what) });
    expect(tx.status).toBe('signed');
    expect(tx.publicKey).toBe(publicKey);
    expect(verifyWithStandardVerifier(tx)).toBe(true);
  };

  beforeAll(async () => {
    e = await setUpStack({ userId: 'upgrade-user' });
    await waitForStatus('the co-signer to be signing-ready', e, signingReady);
    oldImage = (await image())!;
    next = await makeNextImage(oldImage, 'next');
    roleArn = (JSON.parse(readFileSync(join(e.stack.dir, 'stack.json'), 'utf8')) as { imds: { roleArn: string } }).imds.roleArn;
    const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('before upgrade') });
    expect(tx.status).toBe('signed');
    publicKey = tx.publicKey;
  }, 120_000);
  afterAll(async () => {
    await e?.cleanup();
  }, 30_000);

  it('the new image has other measurements than the running one', () => {
    const old = parseMeasurements(JSON.parse(readFileSync(join(oldImage, '..', 'measurements-dev.json'), 'utf8')));
    expect(next.measurements.PCR0).not.toBe(old.PCR0);
  });

  it('without the admin admitting the new measurements: refused before anything is touched, the old image keeps serving', async () => {
    const r = await upgrade(fromKms());
    expect(r.code).toBe(5);
    expect(JSON.stringify(cliJson(r))).toContain('ERR_UPGRADE_REFUSED');
    expect(await image()).toBe(oldImage);
    await signs('after the refused upgrade');
  }, 60_000);

  it('a policy file that lies to the check does not help: KMS refuses the new image and the daemon rolls back', async () => {
    const lie = join(e.stack.dir, 'lying-policy.json');
    writeFileSync(lie, JSON.stringify(buildKeyPolicy({ measurements: next.measurements, instanceRoleArn: roleArn, adminArn: e.stack.kms!.admin.arn })));
    const r = await upgrade(['--policy', lie]);
    expect(r.code).toBe(5);
    expect(JSON.stringify(cliJson(r))).toContain('ERR_UPGRADE_ROLLED_BACK');
    expect(await image()).toBe(oldImage);
    await waitForStatus('the old image to be back and signing-ready', e, signingReady, 45_000);
    await signs('after the rollback');
  }, 180_000);

  it('after the admin puts the policy that admits both images: the upgrade succeeds, the co-signer unseals under the new image and signs', async () => {
    const current = parseMeasurements(JSON.parse(readFileSync(join(oldImage, '..', 'measurements-dev.json'), 'utf8')));
    // The instance role may not change the policy that guards it; the key administrator may.
    const policy = buildKeyPolicy({ measurements: current, also: [next.measurements], instanceRoleArn: roleArn, adminArn: e.stack.kms!.admin.arn });
    await putKeyPolicyAs(e.stack.kms!, e.stack.kms!.admin, readFileSync(e.stack.paths.caPem, 'utf8'), policy);
    // The coordinator's operator admits the new build too, or it would refuse the new enclave's attestation.
    e.stack.coordinator!.admitMeasurements(next.measurements);

    const r = await upgrade(fromKms());
    expect(r.code, `${r.stdout} ${r.stderr}`).toBe(0);
    expect(cliJson(r).result).toMatchObject({ current: next.bundlePath, previous: oldImage, state: 'unsealed' });
    expect(await image()).toBe(next.bundlePath);
    const recorded = JSON.parse(readFileSync(join(e.stack.paths.home, 'image.json'), 'utf8')) as { current: string; previous: string };
    expect(recorded).toMatchObject({ current: next.bundlePath, previous: oldImage });
    await waitForStatus('the new image to reach the coordinator', e, signingReady, 45_000);
    await signs('after the upgrade');
  }, 180_000);
});
