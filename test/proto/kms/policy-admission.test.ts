import { describe, expect, it } from 'vitest';
import { buildKeyPolicy, evaluatePolicy, type KeyPolicy, type PolicyStatement } from '../../../proto/kms/key-policy.ts';
import { admitsOnlyMeasuredImages, analyzeKeyPolicy, analyzeKeyPolicyText, requireAdmissibleKeyPolicy } from '../../../proto/kms/policy-admission.ts';

const ROLE = 'arn:aws:iam::111122223333:role/cosigner-instance';
const ADMIN = 'arn:aws:iam::111122223333:role/kms-admin';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/abcd';
const v1 = { PCR0: '11'.repeat(48), PCR1: '22'.repeat(48), PCR2: '33'.repeat(48) };
const v2 = { PCR0: '44'.repeat(48), PCR1: '55'.repeat(48), PCR2: '66'.repeat(48) };
const generated = buildKeyPolicy({ measurements: v1, instanceRoleArn: ROLE, adminArn: ADMIN, also: [v2] });

const policyOf = (...statements: PolicyStatement[]): KeyPolicy => ({ Version: '2012-10-17', Statement: statements });
const allow = (action: string | string[], extra: Partial<PolicyStatement> = {}): PolicyStatement => ({ Effect: 'Allow', Principal: { AWS: ROLE }, Action: action, Resource: '*', ...extra });
const pinned = { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:PCR0': v1.PCR0 } };
/** The generated policy plus one more statement. */
const withExtra = (s: PolicyStatement): KeyPolicy => ({ ...generated, Statement: [...generated.Statement, s] });

describe('policy admission: the generated policy', () => {
  it('is admitted, and says the administrator may still change it', () => {
    const a = analyzeKeyPolicy(generated);
    expect(a).toEqual({ admitted: true, problems: [], changeable: true, editors: [ADMIN] });
    expect(requireAdmissibleKeyPolicy(JSON.stringify(generated), KEY).admitted).toBe(true);
  });

  it('grants the instance role GetKeyPolicy without a condition, and nothing else new', () => {
    const session = 'arn:aws:sts::111122223333:assumed-role/cosigner-instance/i-0abc';
    expect(evaluatePolicy(generated, { principalArn: session, action: 'kms:GetKeyPolicy', context: {} })).toBe(true);
    expect(evaluatePolicy(generated, { principalArn: session, action: 'kms:Decrypt', context: {} })).toBe(false);
    expect(evaluatePolicy(generated, { principalArn: session, action: 'kms:PutKeyPolicy', context: {} })).toBe(false);
  });

  it('a policy nobody may change is reported as fixed', () => {
    const fixed = { ...generated, Statement: generated.Statement.filter((s) => s.Sid !== 'KeyAdministration') };
    expect(analyzeKeyPolicy(fixed)).toMatchObject({ admitted: true, changeable: false, editors: [] });
  });
});

describe('policy admission: every unsafe shape is refused', () => {
  const unsafe: Record<string, PolicyStatement> = {
    'Decrypt without any condition': allow('kms:Decrypt'),
    'the account root with kms:* (the default key policy)': { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
    'Action "*"': allow('*'),
    'a wildcard principal with Decrypt': { Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*' },
    'Principal {AWS: "*"}': { Effect: 'Allow', Principal: { AWS: '*' }, Action: ['kms:Decrypt'], Resource: '*' },
    'kms:GenerateDataKey*': allow('kms:GenerateDataKey*'),
    'kms:GenerateDataKeyWithoutPlaintext': allow('kms:GenerateDataKeyWithoutPlaintext'),
    'kms:ReEncrypt*': allow('kms:ReEncrypt*'),
    'kms:ReEncryptFrom': allow('kms:ReEncryptFrom'),
    'kms:Encrypt (plants a known secrets.key)': allow('kms:Encrypt'),
    'a partial wildcard (kms:De*)': allow('kms:De*'),
    'an action in another case (KMS:decrypt)': allow('KMS:decrypt'),
    'a single-character wildcard (kms:Decryp?)': allow('kms:Decryp?'),
    'StringLike with a wildcard': allow('kms:Decrypt', { Condition: { StringLike: { 'kms:RecipientAttestation:PCR0': '*' } } }),
    'StringLike even without a wildcard': allow('kms:Decrypt', { Condition: { StringLike: { 'kms:RecipientAttestation:PCR0': v1.PCR0 } } }),
    'StringEqualsIfExists (true when absent)': allow('kms:Decrypt', { Condition: { StringEqualsIfExists: { 'kms:RecipientAttestation:PCR0': v1.PCR0 } } }),
    'ForAllValues:StringEquals (true when absent)': allow('kms:Decrypt', { Condition: { 'ForAllValues:StringEquals': { 'kms:RecipientAttestation:PCR0': v1.PCR0 } } }),
    'StringNotEquals': allow('kms:Decrypt', { Condition: { StringNotEquals: { 'kms:RecipientAttestation:PCR0': v1.PCR0 } } }),
    'a condition on the encryption context only': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'nitro-cosigner/secrets.key' } } }),
    'PCR1 only (the kernel every image shares)': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:PCR1': v1.PCR1 } } }),
    'PCR3 only (the parent\'s own IAM role)': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:PCR3': v1.PCR1 } } }),
    'PCR4 only (the parent\'s own instance)': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:PCR4': v1.PCR1 } } }),
    'all-zero PCR0 (any debug enclave)': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:PCR0': '0'.repeat(96) } } }),
    'one zero value among measurements': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:PCR0': [v1.PCR0, '0'.repeat(96)] } } }),
    'a value that is not a measurement': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:ImageSha384': '*' } } }),
    'an empty value list': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:PCR0': [] } } }),
    'a misspelt condition key': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestaton:PCR0': v1.PCR0 } } }),
  };
  for (const [name, statement] of Object.entries(unsafe)) {
    it(name, () => {
      const a = analyzeKeyPolicy(withExtra(statement));
      expect(a.admitted).toBe(false);
      expect(a.problems).toHaveLength(1);
      expect(() => requireAdmissibleKeyPolicy(JSON.stringify(withExtra(statement)), KEY)).toThrow(expect.objectContaining({ code: 'ERR_KMS_KEY_UNSAFE' }));
    });
  }

  it('a Deny is not credited: Allow Decrypt + Deny unless attested is still refused', () => {
    const p = withExtra(allow('kms:Decrypt'));
    p.Statement.push({ Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: { StringNotEquals: { 'kms:RecipientAttestation:PCR0': v1.PCR0 } } });
    expect(analyzeKeyPolicy(p).admitted).toBe(false);
  });

  const unparsed: Record<string, unknown> = {
    NotAction: { Effect: 'Allow', Principal: { AWS: ROLE }, NotAction: 'kms:PutKeyPolicy', Resource: '*' },
    NotPrincipal: { Effect: 'Allow', NotPrincipal: { AWS: ADMIN }, Action: 'kms:Decrypt', Resource: '*' },
    'a Service principal': { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'kms:Decrypt', Resource: '*' },
    'a numeric condition value': { Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:Decrypt', Resource: '*', Condition: { NumericEquals: { 'kms:x': 1 } } },
  };
  for (const [name, statement] of Object.entries(unparsed)) {
    it(`${name}: the parser does not accept it, so the key is refused`, () => {
      const text = JSON.stringify({ ...generated, Statement: [...generated.Statement, statement] });
      expect(analyzeKeyPolicyText(text)).toMatchObject({ admitted: false, changeable: true });
      expect(() => requireAdmissibleKeyPolicy(text, KEY)).toThrow(expect.objectContaining({ code: 'ERR_KMS_KEY_UNSAFE' }));
    });
  }

  it('text that is not a policy is refused', () => {
    for (const text of ['', 'null', '{}', '[]', '{"Version":"2012-10-17","Statement":[]}']) expect(analyzeKeyPolicyText(text).admitted).toBe(false);
  });
});

describe('policy admission: safe shapes beyond the generated one', () => {
  const safe: Record<string, PolicyStatement> = {
    'StringEquals on ImageSha384': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:ImageSha384': v1.PCR0 } } }),
    'kms:* pinned to PCR0 for any principal': { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: pinned },
    'PCR2 (the application) with several measured values': allow('kms:Decrypt', { Condition: { StringEquals: { 'kms:RecipientAttestation:PCR2': [v1.PCR2, v2.PCR2] } } }),
    'PCR8 (the signing certificate), key name in lower case': allow('kms:Decrypt', { Condition: { StringEqualsIgnoreCase: { 'kms:recipientattestation:pcr8': v2.PCR0 } } }),
    'an exact pin plus a looser extra condition (all must hold)': allow('kms:Decrypt', { Condition: { ...pinned, StringLike: { 'kms:RecipientAttestation:PCR1': '*' } } }),
    'actions that never release a key (DescribeKey, GetKeyPolicy)': allow(['kms:DescribeKey', 'kms:GetKeyPolicy']),
  };
  for (const [name, statement] of Object.entries(safe)) {
    it(name, () => expect(analyzeKeyPolicy(withExtra(statement)).admitted).toBe(true));
  }
  it('admitsOnlyMeasuredImages needs a condition at all', () => {
    expect(admitsOnlyMeasuredImages(allow('kms:Decrypt'))).toBe(false);
    expect(admitsOnlyMeasuredImages(allow('kms:Decrypt', { Condition: pinned }))).toBe(true);
  });
});

describe('policy admission: who may change the policy', () => {
  const cases: [string, PolicyStatement, string[]][] = [
    ['kms:PutKeyPolicy', allow('kms:PutKeyPolicy', { Principal: { AWS: ADMIN } }), [ADMIN]],
    ['kms:CreateGrant', allow('kms:CreateGrant', { Principal: { AWS: [ADMIN, ROLE] } }), [ROLE, ADMIN]],
    ['kms:* (even when pinned to an image)', { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: pinned }, ['*']],
  ];
  for (const [name, statement, editors] of cases) {
    it(name, () => expect(analyzeKeyPolicy(policyOf(statement))).toMatchObject({ changeable: true, editors }));
  }
  it('a Deny of PutKeyPolicy does not make anyone an editor', () => {
    expect(analyzeKeyPolicy(policyOf({ Effect: 'Deny', Principal: '*', Action: 'kms:PutKeyPolicy', Resource: '*' }))).toMatchObject({ changeable: false, editors: [] });
  });
});
