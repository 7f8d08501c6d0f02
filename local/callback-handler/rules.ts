// Sample Callback Handler (tests and `make demo` only): the example approval rules, the kind a
// customer writes. Plain functions over the published request fields, no co-signer code.
import { checkRawTxEntries } from './raw-tx.ts';

/** Example rules. Everything not denied is approved. */
export interface HandlerRules {
  /** Largest amount per asset, as a decimal string (`{ ETH: "1.5" }`); above it → REJECT. */
  maxAmountPerAsset?: Record<string, string>;
  /** When set, destination addresses must be in it (case-insensitive) → else REJECT. */
  allowedDestinations?: string[];
  /** Answer RETRY to the first N calls of each requestId, then decide. */
  retryFirstN?: number;
  /** Answer IGNORE to configuration changes of these types. */
  ignoreConfigTypes?: string[];
  /** REJECT configuration changes of these types. */
  rejectConfigTypes?: string[];
  /**
   * REJECT rawTx entries that carry no `format` (so cannot be recomputed). The standalone handler
   * (cli.ts) and the demo turn it on; the library default is off because a request shaped like the
   * published examples of other co-signers (an ETH transfer, no `format`) must still be answerable
   * by the protocol tests. Entries with a format are always recomputed and
   * checked against the destinations and amounts.
   */
  requireRawTxFormat?: boolean;
}

export interface Verdict {
  action: 'APPROVE' | 'REJECT' | 'RETRY' | 'IGNORE';
  rejectionReason?: string;
}

/** Compares two non-negative decimal strings without floating point. */
export function compareDecimal(a: string, b: string): number {
  const [ai = '0', af = ''] = a.split('.');
  const [bi = '0', bf = ''] = b.split('.');
  const len = Math.max(af.length, bf.length);
  const x = BigInt(ai + af.padEnd(len, '0'));
  const y = BigInt(bi + bf.padEnd(len, '0'));
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Decides a tx_sign_request. `seen` is how many times this requestId was asked before. */
export function decideTx(rules: HandlerRules, tx: Record<string, unknown>, seen: number): Verdict {
  if (rules.retryFirstN && seen < rules.retryFirstN) return { action: 'RETRY' };
  const asset = typeof tx.asset === 'string' ? tx.asset : '';
  const limit = rules.maxAmountPerAsset?.[asset];
  const amount = typeof tx.amountStr === 'string' ? tx.amountStr : typeof tx.amount === 'number' ? String(tx.amount) : '0';
  if (limit !== undefined && /^\d+(\.\d+)?$/.test(amount) && compareDecimal(amount, limit) > 0) {
    return { action: 'REJECT', rejectionReason: `amount ${amount} ${asset} is above the limit of ${limit}` };
  }
  if (rules.allowedDestinations) {
    const allowed = new Set(rules.allowedDestinations.map((a) => a.toLowerCase()));
    const dest = typeof tx.destAddress === 'string' ? tx.destAddress.toLowerCase() : '';
    if (!allowed.has(dest)) return { action: 'REJECT', rejectionReason: `destination ${dest || '(none)'} is not on the allow-list` };
  }
  // Approve only what will really be signed: each payload recomputed from its raw transaction, and
  // the transaction paying exactly the destinations and amounts the request shows.
  const rawTxProblem = checkRawTxEntries(tx, rules.requireRawTxFormat ?? false);
  if (rawTxProblem) return { action: 'REJECT', rejectionReason: rawTxProblem };
  return { action: 'APPROVE' };
}

/** Decides a config_change_sign_request. */
export function decideConfig(rules: HandlerRules, change: Record<string, unknown>, seen: number): Verdict {
  if (rules.retryFirstN && seen < rules.retryFirstN) return { action: 'RETRY' };
  const type = typeof change.type === 'string' ? change.type : '';
  if (rules.rejectConfigTypes?.includes(type)) return { action: 'REJECT', rejectionReason: `${type} changes are not allowed` };
  if (rules.ignoreConfigTypes?.includes(type)) return { action: 'IGNORE' };
  return { action: 'APPROVE' };
}
