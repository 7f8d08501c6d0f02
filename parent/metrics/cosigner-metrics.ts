// Runs on the parent. The metric set nitro-cosigner exposes, in one place so names stay stable
// (documented in docs/operations.md, "Metrics"). prom-client renders the text format and collects
// the process and event-loop metrics. Every labelled series is created at 0 here, so a dashboard or
// an alert sees it before the first event (a missing series is not "0" to PromQL's rate()).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CALLBACK_ACTIONS, LATENCY_BUCKETS_S, SIGNING_OUTCOMES, SIGNING_SCHEMES } from '../../proto/signing-stats.ts';
import { MirroredHistogram } from './mirrored-histogram.ts';

/** Enclave supervisor states, as the `cosigner_enclave_state` gauge's `state` label. */
export const ENCLAVE_STATES = ['stopped', 'starting', 'running', 'restarting', 'failed'] as const;
export type EnclaveState = (typeof ENCLAVE_STATES)[number];

/** Co-signer states the enclave reports (StatusResponse.state), plus `unknown` while it does not answer. */
export const SEAL_STATES = ['unknown', 'starting', 'not-set-up', 'setting-up', 'sealed', 'unsealing', 'unsealed', 'access-denied'] as const;

/** Control series that exist from the start (what a dashboard's status panel reads); other methods appear on first use. */
const CONTROL_OUTCOMES_AT_START = ['status'] as const;

/** Control request latency buckets in seconds (5 ms … 60 s: DKG and Callback Handler round trips). */
export const CONTROL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Every metric of the daemon. */
export interface CosignerMetrics {
  readonly registry: Registry;
  /** Control requests by method and outcome (`ok` or the error code). */
  readonly requests: Counter<'method' | 'outcome'>;
  /** Control request latency by method. */
  readonly latency: Histogram<'method'>;
  /** 1 for the enclave's current supervisor state, 0 for the others. */
  readonly enclaveState: Gauge<'state'>;
  readonly enclaveRestarts: Counter;
  /** 1 when the enclave reports `unsealed`. */
  readonly unsealed: Gauge;
  /** 1 for the co-signer state the enclave last reported, 0 for the others. */
  readonly sealState: Gauge<'state'>;
  /** 1 when the enclave reports its coordinator connection up. */
  readonly coordinatorConnected: Gauge;
  /** Signing sessions open in the enclave. */
  readonly sessionsOpen: Gauge;
  /** 1 while the parent holds a wire connection to the enclave. */
  readonly wireConnected: Gauge;
  readonly relayConnections: Gauge;
  readonly queueDepth: Gauge;
  readonly busyRejections: Counter;
  /** Log records the sink could not write, by errno code (ENOSPC: the disk is full); see `cosigner status`. */
  readonly logWriteFailures: Counter<'code'>;
  /** Constant 1 with the build's identity as labels. */
  readonly buildInfo: Gauge<'version' | 'build_id' | 'image_id'>;
  /** From the enclave's counters (enclave/services/signing-stats.ts), kept monotonic across enclave restarts. */
  readonly signatures: Counter<'scheme' | 'outcome'>;
  readonly signingSeconds: MirroredHistogram;
  readonly callbackSeconds: MirroredHistogram;
  readonly approvals: Counter<'action'>;
  /** 1 while this instance holds the lease (docs/operations.md, "One active signer"); 1 without a lease configured. */
  readonly leaseActive: Gauge;
}

export function createCosignerMetrics(o: { version: string }): CosignerMetrics {
  const registry = new Registry();
  const reg = { registers: [registry] };
  const m: CosignerMetrics = {
    registry,
    requests: new Counter({ name: 'cosigner_requests_total', help: 'Control requests by method and outcome.', labelNames: ['method', 'outcome'], ...reg }),
    latency: new Histogram({ name: 'cosigner_request_duration_seconds', help: 'Control request latency by method.', labelNames: ['method'], buckets: CONTROL_BUCKETS, ...reg }),
    enclaveState: new Gauge({ name: 'cosigner_enclave_state', help: 'Supervisor state of the enclave (1 = current).', labelNames: ['state'], ...reg }),
    enclaveRestarts: new Counter({ name: 'cosigner_enclave_restarts_total', help: 'Enclave restarts by the supervisor.', ...reg }),
    unsealed: new Gauge({ name: 'cosigner_unsealed', help: '1 when the enclave has opened its secrets.', ...reg }),
    sealState: new Gauge({ name: 'cosigner_seal_state', help: 'Co-signer state the enclave reports (1 = current; unknown while it does not answer).', labelNames: ['state'], ...reg }),
    coordinatorConnected: new Gauge({ name: 'cosigner_coordinator_connected', help: '1 when the enclave is connected to the coordinator.', ...reg }),
    sessionsOpen: new Gauge({ name: 'cosigner_sessions_open', help: 'Signing sessions open in the enclave.', ...reg }),
    wireConnected: new Gauge({ name: 'cosigner_wire_connected', help: '1 while the parent is connected to the enclave.', ...reg }),
    relayConnections: new Gauge({ name: 'cosigner_relay_connections', help: 'Open egress relay connections.', ...reg }),
    queueDepth: new Gauge({ name: 'cosigner_queue_depth', help: 'Control requests waiting or running.', ...reg }),
    busyRejections: new Counter({ name: 'cosigner_busy_rejections_total', help: 'Requests answered ERR_BUSY.', ...reg }),
    logWriteFailures: new Counter({ name: 'cosigner_log_write_failures_total', help: 'Log writes that failed, by errno code.', labelNames: ['code'], ...reg }),
    buildInfo: new Gauge({ name: 'cosigner_build_info', help: 'Always 1: parent version, enclave build id, short id of the image measurements (PCR0).', labelNames: ['version', 'build_id', 'image_id'], ...reg }),
    signatures: new Counter({ name: 'cosigner_signatures_total', help: 'Signing requests that ended, by scheme and outcome (signed, rejected, failed), as the enclave counts them.', labelNames: ['scheme', 'outcome'], ...reg }),
    signingSeconds: new MirroredHistogram('cosigner_signing_duration_seconds', 'Signing latency in the enclave by scheme, first coordinator request to the end.', LATENCY_BUCKETS_S, 'scheme', SIGNING_SCHEMES),
    callbackSeconds: new MirroredHistogram('cosigner_callback_duration_seconds', 'Callback Handler call latency (each call, RETRY answers included).', LATENCY_BUCKETS_S),
    leaseActive: new Gauge({ name: 'cosigner_lease_active', help: '1 while this instance is the active signer (holds the lease, or no lease is configured); 0 on a standby.', ...reg }),
    approvals: new Counter({ name: 'cosigner_approvals_total', help: 'Callback Handler answers by action (APPROVE, REJECT, RETRY, IGNORE; error = no valid answer).', labelNames: ['action'], ...reg }),
  };
  registry.registerMetric(m.signingSeconds.asMetric());
  registry.registerMetric(m.callbackSeconds.asMetric());
  // Process, heap, GC and event-loop metrics under their standard names (process_*, nodejs_*).
  collectDefaultMetrics({ register: registry });

  setEnclaveState(m, 'stopped');
  setSealState(m, 'unknown');
  for (const g of [m.unsealed, m.coordinatorConnected, m.sessionsOpen, m.wireConnected, m.relayConnections, m.queueDepth]) g.set(0);
  // No lease configured: the only instance is active (daemon.ts's LeaseRunner sets 0 when one is).
  m.leaseActive.set(1);
  m.enclaveRestarts.inc(0);
  m.busyRejections.inc(0);
  for (const method of CONTROL_OUTCOMES_AT_START) {
    m.requests.inc({ method, outcome: 'ok' }, 0);
    m.latency.zero({ method });
  }
  m.logWriteFailures.inc({ code: 'ENOSPC' }, 0);
  for (const scheme of SIGNING_SCHEMES) for (const outcome of SIGNING_OUTCOMES) m.signatures.inc({ scheme, outcome }, 0);
  for (const action of CALLBACK_ACTIONS) m.approvals.inc({ action }, 0);
  setBuildInfo(m, { version: o.version, buildId: '', imageId: '' });
  return m;
}

export function setEnclaveState(m: CosignerMetrics, state: EnclaveState): void {
  for (const s of ENCLAVE_STATES) m.enclaveState.set({ state: s }, s === state ? 1 : 0);
}

/** One-hot over SEAL_STATES; a state outside the list (a newer enclave) shows as `unknown`. */
export function setSealState(m: CosignerMetrics, state: string): void {
  const known = (SEAL_STATES as readonly string[]).includes(state) ? state : 'unknown';
  for (const s of SEAL_STATES) m.sealState.set({ state: s }, s === known ? 1 : 0);
  m.unsealed.set(known === 'unsealed' ? 1 : 0);
}

/** Replaces the single build-info series (the enclave's build id changes after an upgrade). */
export function setBuildInfo(m: CosignerMetrics, b: { version: string; buildId: string; imageId: string }): void {
  m.buildInfo.reset();
  m.buildInfo.set({ version: b.version.slice(0, 32), build_id: b.buildId.slice(0, 80), image_id: b.imageId.slice(0, 16) }, 1);
}

/** The registry's text exposition (Prometheus format 0.0.4). */
export function renderMetrics(m: CosignerMetrics): Promise<string> {
  return m.registry.metrics();
}
