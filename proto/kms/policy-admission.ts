// Both sides: which KMS key policies the enclave accepts for secrets.key (docs/key-policy.md).
// The parent names the key at setup, so a malicious parent could hand the enclave a key it can
// Decrypt itself and later open the sealed DB. The enclave therefore reads the policy (over its own
// TLS) and admits the key only when every Allow statement that lets anyone use the key to release
// or plant a data key is tied, by an exact-match condition, to measured enclave images. Pure
// functions over the parsed policy, so reviewers' tools can run the same check.
import { CosignerError } from '../errors.ts';
import { parseKeyPolicy, RECIPIENT_ATTESTATION_PREFIX, type KeyPolicy, type PolicyStatement } from './key-policy.ts';

/**
 * Actions that release a data key's plaintext, or let the caller plant a plaintext it knows as
 * secrets.key (Encrypt, ReEncryptTo: a resumed setup reuses a stored secrets.key).
 */
export const KEY_USE_ACTIONS = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GenerateDataKeyPair',
  'kms:GenerateDataKeyPairWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
] as const;

/** Actions that let their holder change who may use the key (a grant bypasses the policy). */
export const POLICY_CHANGE_ACTIONS = ['kms:PutKeyPolicy', 'kms:CreateGrant'] as const;

/**
 * Condition keys that name an enclave image: the whole image (ImageSha384 = PCR0), its application
 * (PCR2) or its signing certificate (PCR8). PCR1 (kernel, shared by every image on it), PCR3 (the
 * parent's IAM role) and PCR4 (the parent's instance) are chosen by whoever runs the enclave, so
 * they admit images the parent can build.
 */
export const IMAGE_CONDITION_KEYS = ['ImageSha384', 'PCR0', 'PCR2', 'PCR8'].map((k) => `${RECIPIENT_ATTESTATION_PREFIX}${k}`.toLowerCase());

/**
 * Operators that compare the value exactly. `StringLike` (wildcards), `…IfExists` (true when the key
 * is absent) and `ForAllValues:` / `ForAnyValue:` (true for an absent key, or any-of) are not
 * admission.
 */
const EXACT_OPERATORS = new Set(['StringEquals', 'StringEqualsIgnoreCase']);

const MEASUREMENT_RE = /^[0-9a-fA-F]{96}$/;
const ZERO48 = '0'.repeat(96);

/** The result of {@link analyzeKeyPolicy}. */
export interface PolicyAdmission {
  /** True when no statement lets anyone use the key outside a measured enclave image. */
  readonly admitted: boolean;
  /** Why not, one line per offending statement (empty when admitted). */
  readonly problems: readonly string[];
  /** True when some principal may change the policy or add grants (PutKeyPolicy, CreateGrant). */
  readonly changeable: boolean;
  /** Principals that may change it ("*" for anyone), for `status`. */
  readonly editors: readonly string[];
}

const toList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM action matching: case-insensitive, `*` any run, `?` one character. */
function actionMatches(pattern: string, action: string): boolean {
  const esc = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`, 'i').test(action);
}

function grants(s: PolicyStatement, actions: readonly string[]): string[] {
  return actions.filter((a) => toList(s.Action).some((p) => actionMatches(p, a)));
}

function principals(s: PolicyStatement): string[] {
  return s.Principal === '*' ? ['*'] : toList(s.Principal.AWS);
}

function label(s: PolicyStatement, i: number): string {
  return typeof s.Sid === 'string' && s.Sid !== '' ? `statement ${i} (${s.Sid.slice(0, 64)})` : `statement ${i}`;
}

/**
 * True when the statement's conditions admit only measured images: some exact-match operator
 * constrains an image condition key, and every value it allows is a non-zero 48-byte measurement.
 * Other conditions in the same statement only narrow it further (all conditions must hold).
 */
export function admitsOnlyMeasuredImages(s: PolicyStatement): boolean {
  if (s.Condition === undefined) return false;
  let pinned = false;
  for (const [op, entries] of Object.entries(s.Condition)) {
    if (!EXACT_OPERATORS.has(op)) continue;
    for (const [key, wanted] of Object.entries(entries)) {
      // Condition key names are case-insensitive in IAM.
      if (!IMAGE_CONDITION_KEYS.includes(key.toLowerCase())) continue;
      const values = toList(wanted);
      if (values.length === 0) return false;
      for (const v of values) {
        // A debug-mode enclave reports zeros; anything else is not a measurement at all.
        if (typeof v !== 'string' || !MEASUREMENT_RE.test(v) || v === ZERO48) return false;
      }
      pinned = true;
    }
  }
  return pinned;
}

/**
 * Analyses a parsed key policy. Deny statements are not credited: the enclave does not reason
 * about how a Deny and an Allow combine, so a policy that relies on a Deny to be safe is refused.
 */
export function analyzeKeyPolicy(policy: KeyPolicy): PolicyAdmission {
  const problems: string[] = [];
  const editors = new Set<string>();
  policy.Statement.forEach((s, i) => {
    if (s.Effect !== 'Allow') return;
    const uses = grants(s, KEY_USE_ACTIONS);
    if (uses.length > 0 && !admitsOnlyMeasuredImages(s)) {
      problems.push(`${label(s, i)} lets ${principals(s).join(', ').slice(0, 200)} use ${uses.join(', ')} without an exact kms:RecipientAttestation measurement condition`);
    }
    if (grants(s, POLICY_CHANGE_ACTIONS).length > 0) for (const p of principals(s)) editors.add(p);
  });
  return { admitted: problems.length === 0, problems, changeable: editors.size > 0, editors: [...editors].sort() };
}

/**
 * Analyses the policy text KMS returned. A policy the strict parser does not accept (NotAction,
 * NotPrincipal, other principal types, …) is refused: the enclave cannot tell what it allows.
 */
export function analyzeKeyPolicyText(text: string): PolicyAdmission {
  let policy: KeyPolicy;
  try {
    policy = parseKeyPolicy(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : 'unparseable';
    return { admitted: false, problems: [`the policy uses a construct the enclave does not evaluate (${why.slice(0, 120)})`], changeable: true, editors: ['unknown'] };
  }
  return analyzeKeyPolicy(policy);
}

/**
 * Throws ERR_KMS_KEY_UNSAFE unless the key policy text admits only measured images; returns the
 * analysis (for `status` and the attested identity) otherwise.
 *
 * @example const a = requireAdmissibleKeyPolicy(resp.Policy, keyArn); // a.changeable → status
 */
export function requireAdmissibleKeyPolicy(text: string, keyArn: string): PolicyAdmission {
  const a = analyzeKeyPolicyText(text);
  if (!a.admitted) {
    throw new CosignerError('ERR_KMS_KEY_UNSAFE', `refusing KMS key ${keyArn.slice(0, 200)}: its policy lets the key be used outside a measured enclave image (${a.problems[0] ?? ''}); see docs/key-policy.md`, {
      details: { keyArn: keyArn.slice(0, 200), problems: a.problems.slice(0, 8).join('; ') },
    });
  }
  return a;
}
