// Runs on the parent. How the daemon follows its enclave: which backend runs it, what build id the
// handshake must state, where its log lines go, and the metrics and logs that track its state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pino from 'pino';
import type { CosignerError } from '../../proto/errors.ts';
import type { DaemonConfig } from '../config/config.ts';
import { enclaveRecord, type RotatingLog } from '../logs/rotating-log.ts';
import { setEnclaveState, type CosignerMetrics } from '../metrics/cosigner-metrics.ts';
import type { EnclaveStatsMirror } from '../metrics/enclave-stats.ts';
import type { Relay } from '../relay/index.ts';
import { localBackend, nitroBackend, type EnclaveBackend } from '../supervisor/backends.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { EnclaveLink } from './enclave-link.ts';
import { toJsonSafe } from './control-handler.ts';
import type { DaemonOverrides } from './daemon.ts';

/**
 * Build id the parent expects in the handshake for `image`: the config's `buildId` for the configured
 * image, else the sidecar JSON `make bundle` writes beside a bundle (`enclave-<mode>.json`), else any
 * (logged). After an upgrade the image changes, and so does the expectation.
 */
export function expectedBuildId(c: DaemonConfig, image: string): { buildId: string; strict: boolean } {
  const configured = c.mode === 'nitro' ? c.eifPath : c.bundlePath;
  if (c.buildId && image === configured) return { buildId: c.buildId, strict: true };
  const sidecar = image.replace(/\.(mjs|eif)$/, '.json');
  if (sidecar !== image) {
    try {
      const j = JSON.parse(readFileSync(sidecar, 'utf8')) as { buildId?: unknown };
      if (typeof j.buildId === 'string' && j.buildId.length > 0 && j.buildId.length <= 256) return { buildId: j.buildId, strict: true };
    } catch {
      // No sidecar: accept whatever the enclave states (it is logged).
    }
  }
  return { buildId: 'nitro-cosigner-parent', strict: false };
}

/**
 * Where the enclave's log lines (over the wire) and console lines (from the backend) go. Decisions are
 * counted from the enclave's Status counters (metrics/enclave-stats.ts), not from log lines, which
 * the sink may drop when the disk is full.
 */
export function enclaveLogHandlers(sink: RotatingLog): { onEnclaveLog(line: string): void; onConsole(line: string): void } {
  return {
    onEnclaveLog: (line: string): void => {
      sink.write(enclaveRecord(line));
    },
    onConsole: (line: string): void => {
      sink.write(JSON.stringify({ level: 30, time: Date.now(), src: 'enclave-console', msg: line.slice(0, 4096) }));
    },
  };
}

/** nitro-cli in production, a child process over a unix socket in local mode. */
export function enclaveBackend(config: DaemonConfig, overrides: DaemonOverrides, onConsole: (line: string) => void, logger: pino.Logger): EnclaveBackend {
  return config.mode === 'nitro'
    ? nitroBackend({
        cpuCount: config.cpuCount,
        memoryMiB: config.memoryMiB,
        cid: config.cid,
        debug: config.debug,
        healthIntervalMs: config.healthIntervalMs,
        ...(overrides.nitroCliBin ? { nitroCliBin: overrides.nitroCliBin } : {}),
        onConsole,
        onHealthError: (e) => logger.warn({ code: e.code, err: e.message }, 'describe-enclaves failed'),
      })
    : localBackend({ wireUrl: config.wireUrl, args: config.enclaveArgs, onConsole, pidFile: join(config.home, 'run', 'enclave.pid'), ...(overrides.enclaveEnv ? { env: overrides.enclaveEnv } : {}) });
}

/**
 * Connect the link when the supervisor has started the enclave, drop it when it exits, and keep the
 * state metrics and the enclave's last status current. Returns the status refresher (the control
 * handler's `status` uses it) and the stop of the periodic poll.
 */
export function watchEnclave(o: {
  readonly config: DaemonConfig;
  readonly supervisor: Supervisor;
  readonly link: EnclaveLink;
  readonly relay: Relay;
  readonly metrics: CosignerMetrics;
  /** Feeds the enclave's Status into the metrics (state, sessions, build, signing counters). */
  readonly stats: EnclaveStatsMirror;
  readonly logger: pino.Logger;
}): { refreshEnclaveStatus(): Promise<Record<string, unknown> | null>; stopPolling(): void } {
  const { config, supervisor, link, relay, metrics, stats, logger } = o;
  supervisor.on('state', (s) => {
    setEnclaveState(metrics, s);
    logger.info({ state: s }, 'enclave state');
  });
  supervisor.on('started', (h: { id: string; info: unknown }) => {
    logger.info({ enclaveId: h.id, info: h.info }, 'enclave started');
    link.connect();
  });
  supervisor.on('exit', (reason: string) => {
    logger.warn({ reason }, 'enclave exited');
    void link.disconnect();
  });
  supervisor.on('restart', () => metrics.enclaveRestarts.inc());
  supervisor.on('error', (e: CosignerError) => logger.error({ code: e.code, err: e.message }, 'supervisor error'));
  link.on('connected', (peer: { remoteBuildId: string }) => {
    metrics.wireConnected.set(1);
    supervisor.markHealthy();
    logger.info({ remoteBuildId: peer.remoteBuildId, expected: expectedBuildId(config, supervisor.image) }, 'connected to the enclave');
    void refreshEnclaveStatus();
  });
  link.on('disconnected', (err?: CosignerError) => {
    metrics.wireConnected.set(0);
    stats.disconnected();
    logger.warn({ code: err?.code }, 'enclave connection closed');
  });

  let lastEnclaveStatus: Record<string, unknown> | null = null;
  const refreshEnclaveStatus = async (): Promise<Record<string, unknown> | null> => {
    if (!link.connected) return (lastEnclaveStatus = null);
    try {
      const s = await link.control().Status!({}, { deadlineMs: 5000 });
      stats.applyStatus(s);
      // The counters are for /metrics; `cosigner status` shows the co-signer's state without them.
      const { stats: _counters, ...shown } = s;
      lastEnclaveStatus = toJsonSafe(shown) as Record<string, unknown>;
    } catch {
      lastEnclaveStatus = null;
    }
    return lastEnclaveStatus;
  };
  const poll = setInterval(() => {
    metrics.relayConnections.set(relay.active);
    void refreshEnclaveStatus();
  }, config.healthIntervalMs);
  poll.unref();
  return { refreshEnclaveStatus, stopPolling: () => clearInterval(poll) };
}
