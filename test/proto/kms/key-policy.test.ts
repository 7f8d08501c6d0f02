import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKeyPolicy, evaluatePolicy, parseKeyPolicy, parseMeasurements, policyAdmits, type KeyPolicy } from '../../../proto/kms/key-policy.ts';
import { keyPolicyCli } from '../../../parent/cli/key-policy.ts';

const ROLE = 'arn:aws:iam::111122223333:role/cosigner-instance';
const SESSION = 'arn:aws:sts::111122223333:assumed-role/cosigner-instance/i-0abc';
const ADMIN = 'arn:aws:iam::111122223333:role/kms-admin';
const v1 = { PCR0: '11'.repeat(48), PCR1: '22'.repeat(48), PCR2: '33'.repeat(48) };
const v2 = { PCR0: '44'.repeat(48), PCR1: '55'.repeat(48), PCR2: '66'.repeat(48) };
const nitroCliOutput = { Measurements: { HashAlgorithm: 'Sha384 { ... }', ...v1 } };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('buildKeyPolicy / policyAdmits', () => {
  const policy = buildKeyPolicy({ measurements: parseMeasurements(nitroCliOutput), instanceRoleArn: ROLE, adminArn: ADMIN });

  it('admits the measured image for the instance role (and its IMDS session), nothing else', () => {
    expect(policyAdmits(policy, ROLE, v1)).toBe(true);
    expect(policyAdmits(policy, SESSION, v1)).toBe(true);
    expect(policyAdmits(policy, ROLE, v2)).toBe(false);
    expect(policyAdmits(policy, ROLE, { ...v1, PCR2: '77'.repeat(48) })).toBe(false);
    expect(policyAdmits(policy, ADMIN, v1)).toBe(false);
    expect(policyAdmits(policy, 'arn:aws:iam::999999999999:role/cosigner-instance', v1)).toBe(false);
  });

  it('conditions use StringEqualsIgnoreCase on ImageSha384 and PCR0/1/2', () => {
    const st = policy.Statement[1]!;
    expect(st.Condition?.StringEqualsIgnoreCase).toEqual({
      'kms:RecipientAttestation:ImageSha384': v1.PCR0,
      'kms:RecipientAttestation:PCR0': v1.PCR0,
      'kms:RecipientAttestation:PCR1': v1.PCR1,
      'kms:RecipientAttestation:PCR2': v1.PCR2,
    });
    expect(policyAdmits(policy, ROLE, { PCR0: v1.PCR0.toUpperCase(), PCR1: v1.PCR1, PCR2: v1.PCR2 })).toBe(true);
  });

  it('a request without a Recipient (no attestation keys) is denied', () => {
    expect(evaluatePolicy(policy, { principalArn: ROLE, action: 'kms:Decrypt', context: {} })).toBe(false);
    expect(evaluatePolicy(policy, { principalArn: ROLE, action: 'kms:GenerateDataKey', context: {} })).toBe(false);
  });

  it('the instance role cannot Encrypt, so the parent cannot plant a secrets.key it knows', () => {
    const ctx = { 'kms:RecipientAttestation:ImageSha384': v1.PCR0, 'kms:RecipientAttestation:PCR0': v1.PCR0, 'kms:RecipientAttestation:PCR1': v1.PCR1, 'kms:RecipientAttestation:PCR2': v1.PCR2 };
    for (const action of ['kms:Encrypt', 'kms:ReEncryptTo', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:PutKeyPolicy', 'kms:CreateGrant']) {
      expect(evaluatePolicy(policy, { principalArn: SESSION, action, context: ctx })).toBe(false);
    }
  });

  it('the admin manages the key but cannot decrypt', () => {
    expect(evaluatePolicy(policy, { principalArn: ADMIN, action: 'kms:PutKeyPolicy', context: {} })).toBe(true);
    expect(evaluatePolicy(policy, { principalArn: ADMIN, action: 'kms:Decrypt', context: {} })).toBe(false);
    expect(evaluatePolicy(policy, { principalArn: ADMIN, action: 'kms:GenerateDataKey', context: {} })).toBe(false);
  });

  it('--also admits a second image for upgrades; PCR8 is required when given', () => {
    const both = buildKeyPolicy({ measurements: v1, also: [v2], instanceRoleArn: ROLE, adminArn: ADMIN });
    expect(policyAdmits(both, ROLE, v1)).toBe(true);
    expect(policyAdmits(both, ROLE, v2)).toBe(true);
    const signed = buildKeyPolicy({ measurements: v1, pcr8: '88'.repeat(48), instanceRoleArn: ROLE, adminArn: ADMIN });
    expect(policyAdmits(signed, ROLE, v1)).toBe(false);
    expect(policyAdmits(signed, ROLE, { ...v1, PCR8: '88'.repeat(48) })).toBe(true);
  });

  it('refuses debug (all-zero) measurements, bad hex, unknown fields and bad ARNs', () => {
    expect(code(() => parseMeasurements({ ...v1, PCR0: '00'.repeat(48) }))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => parseMeasurements({ ...v1, PCR1: 'zz' }))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => parseMeasurements({ ...v1, PCR9: v1.PCR0 }))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => parseMeasurements({ Measurements: { HashAlgorithm: 'Sha256', ...v1 } }))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => buildKeyPolicy({ measurements: v1, instanceRoleArn: 'role', adminArn: ADMIN }))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => buildKeyPolicy({ measurements: v1, instanceRoleArn: ROLE, adminArn: ROLE }))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => buildKeyPolicy({ measurements: v1, instanceRoleArn: ROLE, adminArn: ADMIN, pcr8: '00'.repeat(48) }))).toBe('ERR_CONFIG_INVALID');
  });

  it('explicit Deny wins; unknown condition operators never allow', () => {
    const p: KeyPolicy = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:*', Resource: '*' },
        { Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*' },
      ],
    };
    expect(evaluatePolicy(p, { principalArn: ROLE, action: 'kms:Decrypt', context: {} })).toBe(false);
    expect(evaluatePolicy(p, { principalArn: ROLE, action: 'kms:Encrypt', context: {} })).toBe(true);
    const q: KeyPolicy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringLike: { 'kms:RecipientAttestation:PCR0': '*' } } }] };
    expect(evaluatePolicy(q, { principalArn: ROLE, action: 'kms:Decrypt', context: { 'kms:RecipientAttestation:PCR0': v1.PCR0 } })).toBe(false);
  });

  it('parseKeyPolicy is strict and round-trips what buildKeyPolicy writes', () => {
    expect(parseKeyPolicy(JSON.stringify(policy))).toEqual(policy);
    expect(code(() => parseKeyPolicy('{}'))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => parseKeyPolicy(JSON.stringify({ ...policy, Extra: 1 })))).toBe('ERR_CONFIG_INVALID');
    expect(code(() => parseKeyPolicy(JSON.stringify({ ...policy, Statement: [{ ...policy.Statement[0], Effect: 'Maybe' }] })))).toBe('ERR_CONFIG_INVALID');
  });

  it('CLI: measurements file + flags → policy file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ncs-kp-'));
    try {
      writeFileSync(join(dir, 'm1.json'), JSON.stringify(nitroCliOutput));
      writeFileSync(join(dir, 'm2.json'), JSON.stringify({ Measurements: v2 }));
      const out = join(dir, 'policy.json');
      await keyPolicyCli([join(dir, 'm1.json'), '--instance-role', ROLE, '--admin', ADMIN, '--also', join(dir, 'm2.json'), '--out', out]);
      const p = parseKeyPolicy(readFileSync(out, 'utf8'));
      expect(policyAdmits(p, ROLE, v2)).toBe(true);
      await expect(keyPolicyCli([join(dir, 'm1.json'), '--admin', ADMIN])).rejects.toMatchObject({ code: 'ERR_USAGE' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
