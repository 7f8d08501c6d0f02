// Local development host only. The KMS stand-in's key administrator: the principal the key policy
// names as admin (LOCAL_ADMIN_ARN), the only one allowed kms:PutKeyPolicy, as on AWS where the instance
// role may not change the policy that guards it. Its static credentials live in the stack dir
// (kms-admin.json, 0600) so a restarted stack keeps them; with them an operator rehearses an upgrade:
// the admin admits the new image's measurements, then `cosigner upgrade` switches to it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../enclave/kms/client.ts';
import type { KeyPolicy } from '../../proto/kms/key-policy.ts';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';
import { loopbackDial } from '../kms/loopback-dial.ts';
import { LOCAL_ADMIN_ARN } from './types.ts';

export interface KmsAdmin {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly arn: string;
}

/** The admin's credentials from `<dir>/kms-admin.json`, created on first use. */
export async function loadOrCreateKmsAdmin(dir: string): Promise<KmsAdmin> {
  const file = join(dir, 'kms-admin.json');
  if (existsSync(file)) {
    const j = JSON.parse(await readFile(file, 'utf8')) as Partial<KmsAdmin>;
    if (typeof j.accessKeyId === 'string' && /^AKIA[0-9A-Z]{16}$/.test(j.accessKeyId) && typeof j.secretAccessKey === 'string' && j.secretAccessKey.length >= 32) {
      return { accessKeyId: j.accessKeyId, secretAccessKey: j.secretAccessKey, arn: LOCAL_ADMIN_ARN };
    }
  }
  const admin: KmsAdmin = {
    accessKeyId: `AKIA${randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    arn: LOCAL_ADMIN_ARN,
  };
  await writeFileAtomic(file, `${JSON.stringify(admin, null, 2)}\n`, 0o600);
  return admin;
}

/** PutKeyPolicy on the stand-in as `who` (the admin; the instance role is refused by the policy). */
export async function putKeyPolicyAs(
  kms: { readonly url: string; readonly keyArn: string; readonly region: string },
  who: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string | undefined },
  caPem: string,
  policy: KeyPolicy,
): Promise<void> {
  const client = createKmsClient({
    region: kms.region,
    endpoint: kms.url.replace('127.0.0.1', 'localhost'),
    caPem,
    dial: loopbackDial().dial,
    credentials: { get: () => Promise.resolve({ accessKeyId: who.accessKeyId, secretAccessKey: who.secretAccessKey, ...(who.sessionToken ? { sessionToken: who.sessionToken } : {}) }) },
    maxAttempts: 1,
  });
  await client.send(new PutKeyPolicyCommand({ KeyId: kms.keyArn, PolicyName: 'default', Policy: JSON.stringify(policy) }));
}
