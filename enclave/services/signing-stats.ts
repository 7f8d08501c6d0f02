// Runs in the enclave. Counters and fixed-bucket latency histograms of signing and Callback Handler
// calls, returned in every Status reply so the parent can export them as Prometheus metrics: the
// parent relays TLS it cannot read, so only the enclave can count what happened inside. Bounded by
// construction (fixed label sets, fixed buckets); holds no user id, key id, payload or reason.
// Process-wide on purpose: the signing flow records with one call and no plumbing, and a restarted
// enclave starts from zero under a new epoch, which tells the parent to add rather than subtract.
import { randomBytes } from 'node:crypto';
import {
  CALLBACK_ACTIONS, LATENCY_BUCKETS_S, SIGNING_OUTCOMES, SIGNING_SCHEMES, type CallbackAction, type SigningOutcome, type SigningScheme,
} from '../../proto/signing-stats.ts';

/** One histogram: per-bucket counts (not cumulative; the last entry is above every bound), sum and count. */
export interface HistogramSnapshot {
  readonly counts: number[];
  readonly sum: number;
  readonly count: number;
}

/** What the Status reply carries. */
export interface SigningStatsSnapshot {
  /** Random per enclave process: a new epoch means the counters restarted from zero. */
  readonly epoch: string;
  readonly signatures: Array<{ scheme: SigningScheme; outcome: SigningOutcome; count: number }>;
  readonly signingSeconds: Array<{ scheme: SigningScheme; histogram: HistogramSnapshot }>;
  readonly callbackSeconds: HistogramSnapshot;
  readonly approvals: Array<{ action: CallbackAction; count: number }>;
}

class FixedHistogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS_S.length + 1).fill(0);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    // NaN or negative (a clock step) counts as 0: the sample still counts, the sum stays sane.
    const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    const i = LATENCY_BUCKETS_S.findIndex((b) => s <= b);
    this.counts[i === -1 ? LATENCY_BUCKETS_S.length : i]! += 1;
    this.sum += s;
    this.count += 1;
  }
  snapshot(): HistogramSnapshot {
    return { counts: [...this.counts], sum: this.sum, count: this.count };
  }
}

const epoch = randomBytes(8).toString('hex');
const signatures = new Map<string, number>();
const signingSeconds = new Map<SigningScheme, FixedHistogram>(SIGNING_SCHEMES.map((s) => [s, new FixedHistogram()]));
const callbackSeconds = new FixedHistogram();
const approvals = new Map<CallbackAction, number>(CALLBACK_ACTIONS.map((a) => [a, 0]));

function schemeOf(scheme: string): SigningScheme {
  return (SIGNING_SCHEMES as readonly string[]).includes(scheme) ? (scheme as SigningScheme) : 'other';
}

/**
 * Records one signing request that ended: `scheme` as on the key share, `outcome` how it ended, `ms`
 * from the coordinator's first request (sign.commit) to the end. Unknown schemes count as `other`,
 * unknown outcomes as `failed`, so a caller's typo cannot grow the label set.
 */
export function recordSignature(scheme: string, outcome: string, ms: number): void {
  const sc = schemeOf(scheme);
  const oc: SigningOutcome = (SIGNING_OUTCOMES as readonly string[]).includes(outcome) ? (outcome as SigningOutcome) : 'failed';
  const k = `${sc}/${oc}`;
  signatures.set(k, (signatures.get(k) ?? 0) + 1);
  signingSeconds.get(sc)!.observe(ms / 1000);
}

/** Records one Callback Handler answer (each RETRY counts once) or one call that ended in `error`, and its latency. */
export function recordCallback(action: string, ms: number): void {
  const a: CallbackAction = (CALLBACK_ACTIONS as readonly string[]).includes(action) ? (action as CallbackAction) : 'error';
  approvals.set(a, (approvals.get(a) ?? 0) + 1);
  callbackSeconds.observe(ms / 1000);
}

/** Every series, zeros included, so the parent exports the full label set from the start. */
export function signingStatsSnapshot(): SigningStatsSnapshot {
  return {
    epoch,
    signatures: SIGNING_SCHEMES.flatMap((scheme) => SIGNING_OUTCOMES.map((outcome) => ({ scheme, outcome, count: signatures.get(`${scheme}/${outcome}`) ?? 0 }))),
    signingSeconds: SIGNING_SCHEMES.map((scheme) => ({ scheme, histogram: signingSeconds.get(scheme)!.snapshot() })),
    callbackSeconds: callbackSeconds.snapshot(),
    approvals: CALLBACK_ACTIONS.map((action) => ({ action, count: approvals.get(action) ?? 0 })),
  };
}
