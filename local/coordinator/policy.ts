// Reference coordinator (test stand-in, loopback only). A small Transaction Authorization Policy:
// ordered rules matched on asset, amount range and destination; the first match decides.

export type PolicyAction = 'allow' | 'block' | 'require-approval';

export interface PolicyRule {
  readonly name?: string;
  /** Asset symbol, or '*' / absent for any. */
  readonly asset?: string;
  /** Inclusive lower bound of the amount (decimal string or number). */
  readonly minAmount?: string | number;
  /** Exclusive upper bound of the amount. */
  readonly maxAmount?: string | number;
  /** Destination addresses this rule matches; absent for any. */
  readonly destinations?: readonly string[];
  readonly action: PolicyAction;
}

export interface Policy {
  readonly rules: readonly PolicyRule[];
  /** What happens when no rule matches (default 'block': fail closed). */
  readonly defaultAction?: PolicyAction;
}

/** Default policy: everything needs the co-signer's approval. */
export const DEFAULT_POLICY: Policy = { rules: [], defaultAction: 'require-approval' };

/** Decimal amounts compared exactly as scaled bigints (18 fraction digits). */
export function amountUnits(a: string | number): bigint {
  const s = String(a);
  const m = /^([0-9]{1,30})(?:\.([0-9]{1,18}))?$/.exec(s);
  if (!m) throw new Error(`bad amount ${s.slice(0, 40)}`);
  return BigInt(m[1] as string) * 10n ** 18n + BigInt(((m[2] ?? '') + '0'.repeat(18)).slice(0, 18));
}

/** Checks a policy document; throws with a message on the first problem. */
export function parsePolicy(v: unknown): Policy {
  if (typeof v !== 'object' || v === null) throw new Error('policy must be an object');
  const o = v as { rules?: unknown; defaultAction?: unknown };
  if (!Array.isArray(o.rules) || o.rules.length > 100) throw new Error('rules must be an array of at most 100');
  const actions = ['allow', 'block', 'require-approval'];
  const rules = o.rules.map((r: unknown, i: number): PolicyRule => {
    const x = r as PolicyRule;
    if (typeof x !== 'object' || x === null || !actions.includes(x.action)) throw new Error(`rule ${i}: bad action`);
    if (x.minAmount !== undefined) amountUnits(x.minAmount);
    if (x.maxAmount !== undefined) amountUnits(x.maxAmount);
    if (x.destinations !== undefined && (!Array.isArray(x.destinations) || x.destinations.length > 1000)) throw new Error(`rule ${i}: bad destinations`);
    return x;
  });
  if (o.defaultAction !== undefined && !actions.includes(o.defaultAction as string)) throw new Error('bad defaultAction');
  return { rules, defaultAction: (o.defaultAction as PolicyAction | undefined) ?? 'block' };
}

/** The action and matching rule for a transaction. */
export function evaluatePolicy(policy: Policy, tx: { asset: string; amount: string; destination: string }): { action: PolicyAction; rule: string } {
  const amount = amountUnits(tx.amount);
  for (const [i, r] of policy.rules.entries()) {
    if (r.asset !== undefined && r.asset !== '*' && r.asset !== tx.asset) continue;
    if (r.minAmount !== undefined && amount < amountUnits(r.minAmount)) continue;
    if (r.maxAmount !== undefined && amount >= amountUnits(r.maxAmount)) continue;
    if (r.destinations !== undefined && !r.destinations.includes(tx.destination)) continue;
    return { action: r.action, rule: r.name ?? `rule ${i}` };
  }
  return { action: policy.defaultAction ?? 'block', rule: 'default' };
}
