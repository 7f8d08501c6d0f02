import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyPolicyCli } from '../../../parent/cli/key-policy.ts';
import { buildBucketPolicy } from '../../../parent/storage/bucket-policy.ts';

const ROLE = 'arn:aws:iam::111122223333:role/cosigner-parent';
type Statement = { Sid: string; Effect: string; Action: string | string[]; Resource: string | string[]; Principal?: unknown; NotPrincipal?: unknown; Condition?: unknown };

describe('S3 bucket policy for durable sealed state', () => {
  it('lets only the instance role touch the sealed generations and the lease, and refuses plain HTTP to everyone', () => {
    const p = buildBucketPolicy({ bucket: 'acme-cosigner-state', prefix: 'cosigner/prod/', instanceRoleArn: ROLE, leaseKey: 'lease/active-signer' }) as { Statement: Statement[] };
    const by = (sid: string) => p.Statement.find((s) => s.Sid === sid)!;
    expect(by('DenyInsecureTransport')).toMatchObject({ Effect: 'Deny', Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    const objects = ['arn:aws:s3:::acme-cosigner-state/cosigner/prod/*', 'arn:aws:s3:::acme-cosigner-state/lease/active-signer'];
    expect(by('OnlyTheCosignerRole')).toMatchObject({ Effect: 'Deny', NotPrincipal: { AWS: ROLE }, Resource: objects });
    expect(by('CosignerRole')).toMatchObject({ Effect: 'Allow', Principal: { AWS: ROLE }, Resource: objects });
    expect(by('CosignerRoleBucket')).toMatchObject({ Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketVersioning'], Resource: 'arn:aws:s3:::acme-cosigner-state' });
    // Nothing grants anyone else anything: every Allow names the role.
    for (const s of p.Statement.filter((x) => x.Effect === 'Allow')) expect(s.Principal).toEqual({ AWS: ROLE });
  });

  it.each([
    [{ bucket: 'Bad_Bucket' }], [{ bucket: 'a..b' }], [{ prefix: 'x y' }], [{ instanceRoleArn: 'arn:aws:iam::111122223333:user/alice' }], [{ leaseKey: 'lease key' }],
  ])('refuses %j', (bad) => {
    expect(() => buildBucketPolicy({ bucket: 'acme-cosigner-state', prefix: 'p', instanceRoleArn: ROLE, ...bad })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it('cosigner key-policy --bucket writes it beside the key policy (and needs --bucket-out with --bucket)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ncs-bp-'));
    try {
      const m = join(dir, 'm.json');
      writeFileSync(m, JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: 'aa'.repeat(48), PCR1: 'bb'.repeat(48), PCR2: 'cc'.repeat(48) } }));
      const out = join(dir, 'bucket.json');
      await keyPolicyCli([m, '--instance-role', ROLE, '--admin', 'arn:aws:iam::111122223333:role/kms-admin', '--bucket', 'acme-cosigner-state', '--prefix', 'cosigner', '--bucket-out', out]);
      const written = JSON.parse(readFileSync(out, 'utf8')) as { Statement: Statement[] };
      expect(written.Statement.map((s) => s.Sid)).toEqual(['DenyInsecureTransport', 'OnlyTheCosignerRole', 'CosignerRole', 'CosignerRoleBucket']);
      await expect(keyPolicyCli([m, '--instance-role', ROLE, '--admin', 'arn:aws:iam::111122223333:role/kms-admin', '--bucket', 'acme-cosigner-state'])).rejects.toMatchObject({ code: 'ERR_USAGE' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
