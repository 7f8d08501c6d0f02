// Both sides: the KMS key-policy model shared by the parent CLI (`cosigner key-policy`, `upgrade`),
// the KMS stand-in and reviewers' tools. Turns the measurements nitro-cli prints for an enclave image
// into the KMS key policy that releases secrets.key only to that image (DESIGN invariant 3), and
// evaluates such a policy the way KMS does for the cases nitro-cosigner relies on, so `cosigner
// upgrade` can refuse an image the policy would lock out and the stand-in enforces exactly the
// policy a reviewer reads.
import { CosignerError } from '../errors.ts';

/** One image's PCRs as lower-case hex: PCR0/1/2 always, PCR8 for a signed image. */
export interface Measurements {
  readonly PCR0: string;
  readonly PCR1: string;
  readonly PCR2: string;
  readonly PCR8?: string;
}

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal: '*' | { AWS: string | string[] };
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface KeyPolicy {
  Version: '2012-10-17';
  Id?: string;
  Statement: PolicyStatement[];
}

export interface BuildKeyPolicyInput {
  readonly measurements: Measurements;
  readonly instanceRoleArn: string;
  readonly adminArn: string;
  /** Require this PCR8 (signing certificate) instead of, or in the absence of, measurements.PCR8. */
  readonly pcr8?: string;
  /** Further measurement sets admitted as alternatives (the image being upgraded to). */
  readonly also?: readonly Measurements[];
}

const HEX48 = /^[0-9a-f]{96}$/;
const ZERO48 = '0'.repeat(96);
const ARN_RE = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/:-]{1,512}$/;
export const RECIPIENT_ATTESTATION_PREFIX = 'kms:RecipientAttestation:';

/** Actions the key administrator gets: manage the key, never use it to decrypt. */
export const ADMIN_ACTIONS = [
  'kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*',
  'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];
/** Actions the enclave needs, each only with an attested recipient of the measured image. */
export const ENCLAVE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];
/** What the instance role may do without attestation: read the policy the enclave checks. */
export const ENCLAVE_READ_ACTIONS = ['kms:GetKeyPolicy'];

function invalid(msg: string): never {
  throw new CosignerError('ERR_CONFIG_INVALID', msg);
}

function pcr(value: unknown, name: string): string {
  if (typeof value !== 'string') invalid(`${name} missing`);
  const v = value.toLowerCase();
  if (!HEX48.test(v)) invalid(`${name} is not 48 bytes of hex`);
  // A debug-mode enclave reports zeros: a policy that admitted zeros would admit any debug enclave.
  if (v === ZERO48) invalid(`${name} is all zeros (debug mode); refusing to admit it`);
  return v;
}

/**
 * Reads nitro-cli's build-enclave output (`{"Measurements": {...}}`) or a bare `{PCR0, PCR1, PCR2}`
 * object. Unknown PCR names are an error; all-zero PCRs are refused.
 */
export function parseMeasurements(json: unknown): Measurements {
  const root = json !== null && typeof json === 'object' && 'Measurements' in json ? (json as { Measurements: unknown }).Measurements : json;
  if (root === null || typeof root !== 'object') invalid('measurements: not an object');
  const m = root as Record<string, unknown>;
  for (const k of Object.keys(m)) {
    if (!['HashAlgorithm', 'PCR0', 'PCR1', 'PCR2', 'PCR8'].includes(k)) invalid(`measurements: unknown field ${k}`);
  }
  if (m.HashAlgorithm !== undefined && !(typeof m.HashAlgorithm === 'string' && m.HashAlgorithm.startsWith('Sha384'))) {
    invalid('measurements: HashAlgorithm is not Sha384');
  }
  return {
    PCR0: pcr(m.PCR0, 'PCR0'),
    PCR1: pcr(m.PCR1, 'PCR1'),
    PCR2: pcr(m.PCR2, 'PCR2'),
    ...(m.PCR8 !== undefined ? { PCR8: pcr(m.PCR8, 'PCR8') } : {}),
  };
}

function arn(value: string, name: string): string {
  if (!ARN_RE.test(value)) invalid(`${name} is not an IAM ARN`);
  return value;
}

function conditionFor(m: Measurements, pcr8: string | undefined): Record<string, string> {
  const c: Record<string, string> = {
    [`${RECIPIENT_ATTESTATION_PREFIX}ImageSha384`]: m.PCR0,
    [`${RECIPIENT_ATTESTATION_PREFIX}PCR0`]: m.PCR0,
    [`${RECIPIENT_ATTESTATION_PREFIX}PCR1`]: m.PCR1,
    [`${RECIPIENT_ATTESTATION_PREFIX}PCR2`]: m.PCR2,
  };
  const p8 = pcr8 ?? m.PCR8;
  if (p8 !== undefined) c[`${RECIPIENT_ATTESTATION_PREFIX}PCR8`] = p8;
  return c;
}

/**
 * Builds the KMS key policy: the administrator manages the key (no Decrypt); the instance role may
 * Decrypt and GenerateDataKey only for a Recipient attested with the image's PCRs (one statement per
 * measurement set, so `also` admits an upgrade target alongside the running image), and may read
 * the policy (GetKeyPolicy) so the enclave can check it.
 *
 * @example buildKeyPolicy({ measurements, instanceRoleArn: 'arn:aws:iam::111122223333:role/cosigner', adminArn: 'arn:aws:iam::111122223333:role/admin' })
 */
export function buildKeyPolicy(input: BuildKeyPolicyInput): KeyPolicy {
  const role = arn(input.instanceRoleArn, 'instance role');
  const admin = arn(input.adminArn, 'admin');
  if (role === admin) invalid('the instance role and the administrator must differ');
  const pcr8 = input.pcr8 === undefined ? undefined : pcr(input.pcr8, 'PCR8');
  const sets = [input.measurements, ...(input.also ?? [])].map((m) => parseMeasurements(m));
  const statements: PolicyStatement[] = [
    { Sid: 'KeyAdministration', Effect: 'Allow', Principal: { AWS: admin }, Action: [...ADMIN_ACTIONS], Resource: '*' },
  ];
  sets.forEach((m, i) => {
    statements.push({
      Sid: i === 0 ? 'EnclaveImage' : `EnclaveImageAlso${i}`,
      Effect: 'Allow',
      Principal: { AWS: role },
      Action: [...ENCLAVE_ACTIONS],
      Resource: '*',
      Condition: { StringEqualsIgnoreCase: conditionFor(m, pcr8) },
    });
  });
  // The enclave reads the policy before it uses the key and refuses one that lets anyone else use
  // it (proto/kms/policy-admission.ts). Reading a policy reveals no secret: no condition needed.
  statements.push({ Sid: 'EnclaveReadsPolicy', Effect: 'Allow', Principal: { AWS: role }, Action: [...ENCLAVE_READ_ACTIONS], Resource: '*' });
  return { Version: '2012-10-17', Id: 'nitro-cosigner-key-policy', Statement: statements };
}

/** What a request brings to policy evaluation. */
export interface PolicyRequest {
  readonly principalArn: string;
  readonly action: string;
  readonly resourceArn?: string;
  /** Condition keys present in the request, e.g. kms:RecipientAttestation:PCR0 → hex. */
  readonly context: Readonly<Record<string, string>>;
}

const toList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function glob(pattern: string, value: string, ignoreCase: boolean): boolean {
  const esc = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`, ignoreCase ? 'i' : '').test(value);
}

function principalMatches(p: PolicyStatement['Principal'], caller: string): boolean {
  if (p === '*') return true;
  for (const want of toList(p.AWS)) {
    if (want === '*' || want === caller) return true;
    const acct = /^(?:arn:aws[a-z-]*:iam::)?(\d{12})(?::root)?$/.exec(want);
    if (acct && caller.split(':')[4] === acct[1]) return true;
    // A role ARN in a policy admits that role's sessions (credentials from IMDS are assumed-role).
    const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(want);
    const sess = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(caller);
    if (role && sess && role[1] === sess[1] && role[2] === sess[2] && role[3] === sess[3]) return true;
  }
  return false;
}

function conditionsHold(cond: PolicyStatement['Condition'], ctx: Readonly<Record<string, string>>): boolean {
  if (cond === undefined) return true;
  for (const [op, entries] of Object.entries(cond)) {
    if (op !== 'StringEquals' && op !== 'StringEqualsIgnoreCase') return false; // unknown operator: fail closed
    for (const [key, wanted] of Object.entries(entries)) {
      const have = Object.prototype.hasOwnProperty.call(ctx, key) ? ctx[key] : undefined;
      if (have === undefined) return false; // absent key never satisfies a string condition
      const ok = toList(wanted).some((w) => (op === 'StringEquals' ? w === have : w.toLowerCase() === have.toLowerCase()));
      if (!ok) return false;
    }
  }
  return true;
}

/**
 * Evaluates a key policy for one request as KMS does for what nitro-cosigner uses: an explicit Deny
 * wins, otherwise an Allow whose principal, action, resource and every condition match is needed.
 * Condition operators other than StringEquals / StringEqualsIgnoreCase never match (fail closed).
 */
export function evaluatePolicy(policy: KeyPolicy, req: PolicyRequest): boolean {
  let allowed = false;
  for (const s of policy.Statement) {
    if (!principalMatches(s.Principal, req.principalArn)) continue;
    if (!toList(s.Action).some((a) => glob(a, req.action, true))) continue;
    if (!toList(s.Resource).some((r) => r === '*' || r === req.resourceArn)) continue;
    if (s.Effect === 'Deny') {
      // For a Deny, an unknown operator must not let the request through: treat as matching.
      if (s.Condition === undefined || conditionsHold(s.Condition, req.context) || Object.keys(s.Condition).some((op) => op !== 'StringEquals' && op !== 'StringEqualsIgnoreCase')) return false;
      continue;
    }
    if (conditionsHold(s.Condition, req.context)) allowed = true;
  }
  return allowed;
}

/** The condition keys KMS derives from a verified Recipient attestation document. */
export function recipientContext(pcrs: ReadonlyMap<number, Uint8Array>): Record<string, string> {
  const ctx: Record<string, string> = {};
  for (const [i, v] of pcrs) ctx[`${RECIPIENT_ATTESTATION_PREFIX}PCR${i}`] = Buffer.from(v).toString('hex');
  const p0 = pcrs.get(0);
  if (p0) ctx[`${RECIPIENT_ATTESTATION_PREFIX}ImageSha384`] = Buffer.from(p0).toString('hex');
  return ctx;
}

/**
 * Would `policy` let `principalArn` Decrypt secrets.key from an enclave with these measurements?
 * `cosigner upgrade` calls this before switching images.
 */
export function policyAdmits(policy: KeyPolicy, principalArn: string, measurements: Measurements): boolean {
  const m = parseMeasurements(measurements);
  const pcrs = new Map<number, Uint8Array>([
    [0, Buffer.from(m.PCR0, 'hex')],
    [1, Buffer.from(m.PCR1, 'hex')],
    [2, Buffer.from(m.PCR2, 'hex')],
    [8, Buffer.from(m.PCR8 ?? ZERO48, 'hex')],
  ]);
  return evaluatePolicy(policy, { principalArn, action: 'kms:Decrypt', context: recipientContext(pcrs) });
}

/** Strictly parses a key policy document (the JSON a file or PutKeyPolicy holds). */
export function parseKeyPolicy(text: string): KeyPolicy {
  if (text.length > 32 * 1024) invalid('key policy larger than 32 KiB');
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    invalid('key policy is not JSON');
  }
  const p = j as KeyPolicy;
  if (p === null || typeof p !== 'object' || p.Version !== '2012-10-17' || !Array.isArray(p.Statement) || p.Statement.length === 0) {
    invalid('key policy needs Version 2012-10-17 and a Statement list');
  }
  for (const k of Object.keys(p)) if (!['Version', 'Id', 'Statement'].includes(k)) invalid(`key policy: unknown field ${k}`);
  for (const s of p.Statement) {
    if (s === null || typeof s !== 'object') invalid('key policy: statement is not an object');
    for (const k of Object.keys(s)) if (!['Sid', 'Effect', 'Principal', 'Action', 'Resource', 'Condition'].includes(k)) invalid(`key policy: unknown statement field ${k}`);
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny') invalid('key policy: Effect must be Allow or Deny');
    const pr = s.Principal;
    if (pr !== '*' && !(pr && typeof pr === 'object' && (typeof pr.AWS === 'string' || (Array.isArray(pr.AWS) && pr.AWS.every((x) => typeof x === 'string'))))) {
      invalid('key policy: Principal must be "*" or {AWS: ...}');
    }
    const strs = (v: unknown): boolean => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!strs(s.Action) || !strs(s.Resource)) invalid('key policy: Action and Resource must be strings');
    if (s.Condition !== undefined) {
      if (s.Condition === null || typeof s.Condition !== 'object') invalid('key policy: Condition must be an object');
      for (const entries of Object.values(s.Condition)) {
        if (entries === null || typeof entries !== 'object' || !Object.values(entries).every(strs)) invalid('key policy: bad Condition');
      }
    }
  }
  return p;
}

