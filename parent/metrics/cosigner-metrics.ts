// Runs on the parent. The metric set nitro-cosigner exposes, in one place so names stay stable.
import { Counter, Gauge, Histogram, Registry } from './registry.ts';

/** Enclave supervisor states, as the `cosigner_enclave_state` gauge's `state` label. */
export const ENCLAVE_STATES = ['stopped', 'starting', 'running', 'restarting', 'failed'] as const;
export type EnclaveState = (typeof ENCLAVE_STATES)[number];

/** Every metric of the daemon. */
export interface CosignerMetrics {
  readonly registry: Registry;
  /** Control requests by method and outcome (`ok` or the error code). */
  readonly requests: Counter;
  /** Callback Handler decisions by action (APPROVE / REJECT / IGNORE / FAIL), as the enclave's audit records report them. */
  readonly decisions: Counter;
  /** Control request latency by method. */
  readonly latency: Histogram;
  /** 1 for the enclave's current supervisor state, 0 for the others. */
  readonly enclaveState: Gauge;
  readonly enclaveRestarts: Counter;
  /** 1 when the enclave reports `unsealed`. */
  readonly unsealed: Gauge;
  /** 1 when the enclave reports its coordinator connection up. */
  readonly coordinatorConnected: Gauge;
  /** 1 while the parent holds a wire connection to the enclave. */
  readonly wireConnected: Gauge;
  readonly relayConnections: Gauge;
  readonly queueDepth: Gauge;
  readonly busyRejections: Counter;
  /** Log records the sink could not write, by errno code (ENOSPC: the disk is full); see `cosigner status`. */
  readonly logWriteFailures: Counter;
}

export function createCosignerMetrics(): CosignerMetrics {
  const registry = new Registry();
  const m: CosignerMetrics = {
    registry,
    requests: registry.register(new Counter('cosigner_requests_total', 'Control requests by method and outcome.')),
    decisions: registry.register(new Counter('cosigner_decisions_total', 'Callback Handler decisions by action.')),
    latency: registry.register(new Histogram('cosigner_request_duration_seconds', 'Control request latency by method.')),
    enclaveState: registry.register(new Gauge('cosigner_enclave_state', 'Supervisor state of the enclave (1 = current).')),
    enclaveRestarts: registry.register(new Counter('cosigner_enclave_restarts_total', 'Enclave restarts by the supervisor.')),
    unsealed: registry.register(new Gauge('cosigner_unsealed', '1 when the enclave has opened its secrets.')),
    coordinatorConnected: registry.register(new Gauge('cosigner_coordinator_connected', '1 when the enclave is connected to the coordinator.')),
    wireConnected: registry.register(new Gauge('cosigner_wire_connected', '1 while the parent is connected to the enclave.')),
    relayConnections: registry.register(new Gauge('cosigner_relay_connections', 'Open egress relay connections.')),
    queueDepth: registry.register(new Gauge('cosigner_queue_depth', 'Control requests waiting or running.')),
    busyRejections: registry.register(new Counter('cosigner_busy_rejections_total', 'Requests answered ERR_BUSY.')),
    logWriteFailures: registry.register(new Counter('cosigner_log_write_failures_total', 'Log writes that failed, by errno code.')),
  };
  setEnclaveState(m, 'stopped');
  m.unsealed.set(0);
  m.coordinatorConnected.set(0);
  m.wireConnected.set(0);
  m.relayConnections.set(0);
  m.queueDepth.set(0);
  return m;
}

export function setEnclaveState(m: CosignerMetrics, state: EnclaveState): void {
  for (const s of ENCLAVE_STATES) m.enclaveState.set(s === state ? 1 : 0, { state: s });
}
