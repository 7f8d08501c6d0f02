// Runs on the parent. Turns the enclave's Status reply into metrics: its state, open sessions and
// build id as gauges, and its signing and Callback Handler counters (StatusResponse.stats, totals since
// that enclave process started) into monotonic Prometheus counters. The parent adds the increase since
// the previous reply; a new epoch (a restarted enclave, counting from zero again) adds its totals whole,
// so the exported counters never go down. Events between the last poll and an enclave crash are lost.
import { CALLBACK_ACTIONS, SIGNING_OUTCOMES, SIGNING_SCHEMES } from '../../proto/signing-stats.ts';
import { setBuildInfo, setSealState, type CosignerMetrics } from './cosigner-metrics.ts';
import type { MirroredHistogram } from './mirrored-histogram.ts';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.slice(0, 64).map(obj) : []);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** First 12 hex digits of PCR0 (the image measurement), '' when unknown: enough to tell images apart on a dashboard. */
export function imageIdOf(measurements: Readonly<Record<string, string>> | null | undefined): string {
  const pcr0 = measurements?.PCR0;
  return typeof pcr0 === 'string' && /^[0-9a-fA-F]{12,}$/.test(pcr0) ? pcr0.slice(0, 12).toLowerCase() : '';
}

interface Hist {
  counts: number[];
  sum: number;
  count: number;
}

/** Follows one daemon's enclave across restarts. */
export class EnclaveStatsMirror {
  #epoch = '';
  /** The co-signer state of the last reply ('unknown' while the enclave does not answer), for /healthz. */
  state = 'unknown';
  readonly #last = new Map<string, number>();
  readonly #lastHist = new Map<string, Hist>();

  constructor(
    private readonly m: CosignerMetrics,
    private readonly build: { version: string; imageId: () => string },
  ) {}

  /** Applies one Status reply (as the wire decodes it). */
  applyStatus(status: unknown): void {
    const s = obj(status);
    this.state = typeof s.state === 'string' ? s.state.slice(0, 32) : 'unknown';
    setSealState(this.m, this.state);
    this.m.coordinatorConnected.set(s.coordinator === 'connected' ? 1 : 0);
    this.m.sessionsOpen.set(num(s.openSessions));
    setBuildInfo(this.m, { version: this.build.version, buildId: typeof s.buildId === 'string' ? s.buildId : '', imageId: this.build.imageId() });
    const stats = obj(s.stats);
    if (typeof stats.epoch !== 'string' || stats.epoch === '') return;
    const fresh = stats.epoch !== this.#epoch;
    this.#epoch = stats.epoch.slice(0, 64);
    for (const e of list(stats.signatures)) {
      const scheme = String(e.scheme);
      const outcome = String(e.outcome);
      if (!(SIGNING_SCHEMES as readonly string[]).includes(scheme) || !(SIGNING_OUTCOMES as readonly string[]).includes(outcome)) continue;
      this.m.signatures.inc({ scheme, outcome }, this.delta(`sig/${scheme}/${outcome}`, num(e.count), fresh));
    }
    for (const e of list(stats.approvals)) {
      const action = String(e.action);
      if (!(CALLBACK_ACTIONS as readonly string[]).includes(action)) continue;
      this.m.approvals.inc({ action }, this.delta(`app/${action}`, num(e.count), fresh));
    }
    for (const e of list(stats.signingSeconds)) this.addHist(this.m.signingSeconds, String(e.scheme), obj(e.histogram), fresh);
    this.addHist(this.m.callbackSeconds, '', obj(stats.callbackSeconds), fresh);
  }

  /** The wire link is down: nothing is known about the enclave's state until it answers again. */
  disconnected(): void {
    this.state = 'unknown';
    setSealState(this.m, 'unknown');
    this.m.coordinatorConnected.set(0);
    this.m.sessionsOpen.set(0);
  }

  /** Increase of a total since the last reply of the same epoch; the whole total in a new epoch or after a decrease. */
  private delta(key: string, total: number, fresh: boolean): number {
    const last = this.#last.get(key) ?? 0;
    this.#last.set(key, total);
    return fresh || total < last ? total : total - last;
  }

  private addHist(h: MirroredHistogram, label: string, raw: Obj, fresh: boolean): void {
    const cur: Hist = { counts: Array.isArray(raw.counts) ? raw.counts.slice(0, 64).map(num) : [], sum: num(raw.sum), count: num(raw.count) };
    const key = `${h.name}/${label}`;
    const last = this.#lastHist.get(key);
    const grew = last !== undefined && last.counts.length === cur.counts.length && cur.count >= last.count && cur.counts.every((c, i) => c >= (last.counts[i] ?? 0));
    const d = !fresh && grew ? { counts: cur.counts.map((c, i) => c - (last.counts[i] ?? 0)), sum: Math.max(0, cur.sum - last.sum), count: cur.count - last.count } : cur;
    if (h.add(label, d)) this.#lastHist.set(key, cur);
  }
}
