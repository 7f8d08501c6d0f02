// Runs on the parent. A small Prometheus registry (counters, gauges, histograms with labels) and its
// text exposition format 0.0.4. Written here rather than pulled in as a dependency because the
// parent needs only these three kinds and the format is a few lines.

type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',');
}

/** Bound on label combinations per metric: label values come partly from requests. */
const MAX_SERIES = 200;

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
  }
  abstract lines(): string[];
}

/** A monotonically increasing counter. */
export class Counter extends Metric {
  readonly #values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    if (!this.#values.has(k) && this.#values.size >= MAX_SERIES) return;
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric {
  readonly #values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    if (!this.#values.has(k) && this.#values.size >= MAX_SERIES) return;
    this.#values.set(k, value);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

/** Default latency buckets in seconds (5 ms … 60 s: DKG and Callback Handler round trips). */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A cumulative histogram. */
export class Histogram extends Metric {
  readonly #buckets: number[];
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number; labels: Labels }>();
  constructor(name: string, help: string, buckets: readonly number[] = DEFAULT_BUCKETS) {
    super(name, help, 'histogram');
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      if (this.#series.size >= MAX_SERIES) return;
      s = { counts: this.#buckets.map(() => 0), sum: 0, count: 0, labels };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.#buckets.length; i++) if (value <= (this.#buckets[i] ?? Infinity)) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count += 1;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.#series) {
      const sep = k ? `${k},` : '';
      this.#buckets.forEach((b, i) => out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i] ?? 0}`));
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

/** A set of metrics rendered together. */
export class Registry {
  readonly #metrics: Metric[] = [];
  register<M extends Metric>(m: M): M {
    if (this.#metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.#metrics.push(m);
    return m;
  }
  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const m of this.#metrics) {
      out.push(`# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      out.push(...m.lines());
    }
    return out.join('\n') + '\n';
  }
}
