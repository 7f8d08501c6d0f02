// Runs on the parent. A Prometheus histogram whose observations happen in the enclave: the enclave
// reports per-bucket counts (proto/signing-stats.ts buckets) and the parent adds what is new since the
// last report. prom-client's Histogram only takes single observations, so this is a small metric of
// its own that prom-client's Registry renders like any other (it needs name, get() and reset()).
import type { Metric } from 'prom-client';

interface Series {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A cumulative histogram fed with bucket-count increments, optionally with one label. */
export class MirroredHistogram {
  readonly #series = new Map<string, Series>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    /** The one label name, or '' for none; its values are fixed at construction (bounded by design). */
    readonly labelName = '',
    labelValues: readonly string[] = [''],
  ) {
    for (const v of labelValues) this.#series.set(v, { counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 });
  }

  /**
   * Adds increments: `counts` per bucket (not cumulative, the last above every bound). Unknown label
   * values and malformed increments (wrong length, negative, not finite) are ignored: they come
   * from the enclave's reply, and the exported series must stay monotonic.
   */
  add(labelValue: string, d: { counts: readonly number[]; sum: number; count: number }): boolean {
    const s = this.#series.get(labelValue);
    if (!s || d.counts.length !== s.counts.length) return false;
    if (![...d.counts, d.sum, d.count].every((x) => Number.isFinite(x) && x >= 0)) return false;
    d.counts.forEach((c, i) => (s.counts[i] = (s.counts[i] ?? 0) + c));
    s.sum += d.sum;
    s.count += d.count;
    return true;
  }

  /** The observation count of one series (tests, health). */
  count(labelValue = ''): number {
    return this.#series.get(labelValue)?.count ?? 0;
  }

  /** What prom-client's Registry.registerMetric accepts. */
  asMetric(): Metric {
    const self = {
      name: this.name,
      help: this.help,
      type: 'histogram',
      aggregator: 'sum',
      get: () => Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values: this.values() }),
      reset: () => {
        for (const s of this.#series.values()) {
          s.counts.fill(0);
          s.sum = 0;
          s.count = 0;
        }
      },
    };
    return self as unknown as Metric;
  }

  private values(): Array<{ metricName: string; labels: Record<string, string | number>; value: number }> {
    const out: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const [v, s] of this.#series) {
      const base: Record<string, string> = this.labelName ? { [this.labelName]: v } : {};
      let acc = 0;
      this.buckets.forEach((b, i) => {
        acc += s.counts[i] ?? 0;
        out.push({ metricName: `${this.name}_bucket`, labels: { ...base, le: b }, value: acc });
      });
      out.push({ metricName: `${this.name}_bucket`, labels: { ...base, le: '+Inf' }, value: s.count });
      out.push({ metricName: `${this.name}_sum`, labels: base, value: s.sum });
      out.push({ metricName: `${this.name}_count`, labels: base, value: s.count });
    }
    return out;
  }
}
