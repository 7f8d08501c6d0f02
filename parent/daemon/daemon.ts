// Runs on the parent. `cosigner-parent`: wires the supervisor, the enclave link (wire + ports), the
// log sink, the control socket, metrics and health together. `startDaemon` is also what tests and
// local/stack.ts call to run a daemon in-process.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import type { BlobStore, CredentialSource } from '../../proto/ports.ts';
import type { DaemonConfig } from '../config/config.ts';
import { startControlServer } from '../control/server.ts';
import { BoundedQueue } from '../control/queue.ts';
import { METHODS, type ControlRequest, type ControlRpc } from '../control/protocol.ts';
import type { CallOptions } from '../../proto/runtime/peer.ts';
import { RotatingLog, enclaveRecord } from '../logs/rotating-log.ts';
import { liveSize, readFrom, readLogs } from '../logs/read-logs.ts';
import { createCosignerMetrics, setEnclaveState, type CosignerMetrics } from '../metrics/cosigner-metrics.ts';
import { startMetricsServer } from '../metrics/server.ts';
import { ImdsCredentialSource } from '../credentials/imds.ts';
import { createRelay, loadAllowList, parseAllowList, type Relay } from '../relay/index.ts';
import { FileBlobStore } from '../storage/file-blob-store.ts';
import { localBackend, nitroBackend } from '../supervisor/backends.ts';
import { Supervisor } from '../supervisor/supervisor.ts';
import { EnclaveLink } from './enclave-link.ts';
import { readImageState } from './image-state.ts';
import { performUpgrade } from './upgrade.ts';

/** Optional replacements, for tests and the local stack. */
export interface DaemonOverrides {
  readonly blobs?: BlobStore;
  readonly credentials?: CredentialSource;
  readonly relay?: Relay;
  /** nitro-cli binary (default `nitro-cli` on PATH). */
  readonly nitroCliBin?: string;
  /** Environment of a local-mode enclave process. */
  readonly enclaveEnv?: NodeJS.ProcessEnv;
  /** Do not start the enclave at start-up (the CLI's `start` does). */
  readonly startEnclave?: boolean;
}

/** A running daemon. */
export interface RunningDaemon {
  readonly config: DaemonConfig;
  readonly controlSocketPath: string;
  /** `http://127.0.0.1:PORT` of /metrics and /healthz, or null when disabled. */
  readonly metricsUrl: string | null;
  readonly supervisor: Supervisor;
  readonly link: EnclaveLink;
  readonly metrics: CosignerMetrics;
  readonly logger: pino.Logger;
  /** Stop the enclave, close every socket and the log. */
  close(): Promise<void>;
}

const VERSION = '0.1.0';
const MUTATING = new Set(['setup', 'unseal', 'addUser', 'removeUser', 'callbackUpdate']);
/** Decision actions counted from the enclave's `callback.decision` audit records; others count as OTHER. */
const ACTIONS = new Set(['APPROVE', 'REJECT', 'IGNORE', 'FAIL']);

/**
 * Build id the parent expects in the handshake for `image`: the config's `buildId` for the configured
 * image, else the sidecar JSON `make bundle` writes beside a bundle (`enclave-<mode>.json`), else any
 * (logged). After an upgrade the image changes, and so does the expectation.
 */
function expectedBuildId(c: DaemonConfig, image: string): { buildId: string; strict: boolean } {
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

/** Plain-JSON view of an RPC result: bytes → base64, bigint → decimal string. */
export function toJsonSafe(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(toJsonSafe);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJsonSafe(x)]));
  return v;
}

/**
 * Start the parent daemon: log sink, blob store, supervisor (and the enclave unless
 * `overrides.startEnclave === false`), wire link, control socket, metrics.
 */
export async function startDaemon(config: DaemonConfig, overrides: DaemonOverrides = {}): Promise<RunningDaemon> {
  for (const d of ['db', 'backup', 'log', 'run']) mkdirSync(join(config.home, d), { recursive: true, mode: 0o700 });
  const sink = new RotatingLog({ dir: join(config.home, 'log'), maxBytes: config.logMaxBytes, keep: config.logKeep });
  const logger = pino(
    {
      base: { src: 'parent', pid: process.pid },
      // Defence in depth: the parent never holds a secret, but credentials pass through it.
      redact: { paths: ['*.secretAccessKey', '*.sessionToken', 'secretAccessKey', 'sessionToken', '*.pairingToken', 'pairingToken'], censor: '[redacted]' },
    },
    { write: (line: string) => sink.write(line.trimEnd()) },
  );
  const metrics = createCosignerMetrics();
  const cleanups: Array<() => Promise<void> | void> = [() => sink.close()];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };

  try {
    const blobs = overrides.blobs ?? (await FileBlobStore.open(config.home));
    const credentials = overrides.credentials ?? new ImdsCredentialSource({ endpoint: config.imdsEndpoint });
    const relay = overrides.relay ?? createRelay(config.allowListPath ? loadAllowList(config.allowListPath) : parseAllowList({ allowlist: [] }), { logger });

    const onEnclaveLog = (line: string): void => {
      const rec = enclaveRecord(line);
      sink.write(rec);
      // Audit records of Callback Handler decisions (enclave/approval) feed cosigner_decisions_total.
      if (rec.includes('"callback.decision"')) {
        const r = JSON.parse(rec) as { event?: unknown; action?: unknown };
        if (r.event === 'callback.decision' && typeof r.action === 'string') metrics.decisions.inc({ action: ACTIONS.has(r.action) ? r.action : 'OTHER' });
      }
    };
    const onConsole = (line: string): void => {
      sink.write(JSON.stringify({ level: 30, time: Date.now(), src: 'enclave-console', msg: line.slice(0, 4096) }));
    };

    const imageState = await readImageState(config.home);
    const image = imageState?.current ?? (config.mode === 'nitro' ? config.eifPath : config.bundlePath);
    const backend =
      config.mode === 'nitro'
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
    const supervisor = new Supervisor({ backend, image, restartInitialMs: config.restartInitialMs, restartMaxMs: config.restartMaxMs });
    const link = new EnclaveLink({ wireUrl: config.wireUrl, expectBuild: () => expectedBuildId(config, supervisor.image), blobs, credentials, relay, onLog: onEnclaveLog, logger: logger.child({ component: 'wire' }) });

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
      metrics.unsealed.set(0);
      metrics.coordinatorConnected.set(0);
      logger.warn({ code: err?.code }, 'enclave connection closed');
    });
    cleanups.push(async () => {
      await link.disconnect();
      await supervisor.stop().catch(() => undefined);
    });

    let lastEnclaveStatus: Record<string, unknown> | null = null;
    const refreshEnclaveStatus = async (): Promise<Record<string, unknown> | null> => {
      if (!link.connected) return (lastEnclaveStatus = null);
      try {
        const s = await link.control().Status!({}, { deadlineMs: 5000 });
        lastEnclaveStatus = toJsonSafe(s) as Record<string, unknown>;
        metrics.unsealed.set(s.state === 'unsealed' ? 1 : 0);
        metrics.coordinatorConnected.set(s.coordinator === 'connected' ? 1 : 0);
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
    cleanups.push(() => clearInterval(poll));

    const queue = new BoundedQueue(config.queueLimit, config.maxConcurrent, (d) => metrics.queueDepth.set(d));
    const status = async (): Promise<unknown> => ({
      daemon: { version: VERSION, pid: process.pid, mode: config.mode, home: config.home, queueDepth: queue.depth, queueLimit: config.queueLimit },
      supervisor: supervisor.status(),
      wire: link.status(),
      enclave: await refreshEnclaveStatus(),
    });

    const handler = async (req: ControlRequest): Promise<unknown> => {
      const spec = METHODS[req.method] as { forward?: ControlRpc };
      if (spec.forward) {
        const rpc = spec.forward;
        return queue.run(async () => {
          const params = { ...req.params } as Record<string, unknown>;
          if (req.method === 'getAttestation') params.nonce = Buffer.from(String(params.nonce ?? ''), 'hex');
          // params were checked against METHODS (protocol.ts), not against the generated request type.
          const fn = link.control()[rpc] as ((req: unknown, o: CallOptions) => Promise<unknown>) | undefined;
          if (!fn) throw new CosignerError('ERR_NOT_IMPLEMENTED', `the enclave does not offer ${rpc}`);
          const res = await fn.call(link.control(), params, { deadlineMs: config.requestTimeoutMs });
          // Operator actions that change the co-signer are on record; reads are not logged.
          if (MUTATING.has(req.method)) logger.info({ method: req.method }, 'control request forwarded');
          return toJsonSafe(res);
        });
      }
      switch (req.method) {
        case 'status':
          return status();
        case 'logs': {
          const dir = join(config.home, 'log');
          if (typeof req.params.from === 'number' && req.params.from >= 0) return readFrom(dir, req.params.from);
          const next = await liveSize(dir);
          const lines = await readLogs(dir, { n: (req.params.n as number | undefined) ?? 50, ...(typeof req.params.sinceMs === 'number' ? { sinceMs: req.params.sinceMs } : {}) });
          return { lines, next };
        }
        case 'start':
          logger.info('control: start');
          await supervisor.start();
          return supervisor.status();
        case 'stop':
          logger.info('control: stop');
          await link.disconnect();
          await supervisor.stop();
          return supervisor.status();
        case 'restart':
          logger.info('control: restart');
          await link.disconnect();
          await supervisor.stop();
          await supervisor.start();
          return supervisor.status();
        case 'upgrade':
          return queue.run(() =>
            performUpgrade(
              { supervisor, link, home: config.home, logger },
              {
                eifPath: String(req.params.eifPath),
                measurementsPath: String(req.params.measurementsPath),
                policyChecked: req.params.policyChecked === true,
                ...(typeof req.params.timeoutMs === 'number' ? { timeoutMs: req.params.timeoutMs } : {}),
              },
            ),
          );
        default:
          throw new CosignerError('ERR_UNKNOWN_METHOD', `method ${req.method} is not handled`);
      }
    };

    const control = await startControlServer({
      path: config.controlSocket,
      handler,
      onInternalError: (err) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'control handler failed'),
      onRequest: (method, outcome, seconds) => {
        metrics.requests.inc({ method, outcome });
        metrics.latency.observe(seconds, { method });
        if (outcome === 'ERR_BUSY') metrics.busyRejections.inc();
      },
    });
    cleanups.push(() => control.close());

    let metricsUrl: string | null = null;
    if (config.metricsAddress) {
      const m = await startMetricsServer(config.metricsAddress, metrics.registry, () => ({
        ok: supervisor.state === 'running' && link.connected,
        enclave: supervisor.state,
        wire: link.connected ? 'connected' : 'disconnected',
        sealed: metrics.unsealed.get() === 1 ? 'unsealed' : 'sealed',
      }));
      metricsUrl = m.url;
      cleanups.push(() => m.close());
    }

    if (config.debug) logger.warn('debug mode: the enclave\'s PCRs read as zeros, so KMS will not release secrets to it; never use with production keys');
    logger.info({ mode: config.mode, image, wireUrl: config.wireUrl, control: config.controlSocket, metrics: metricsUrl, version: VERSION }, 'cosigner-parent started');
    if (overrides.startEnclave !== false) {
      await supervisor.start().catch((err: unknown) => {
        // Keeps retrying with backoff; the daemon stays up so `cosigner status` can explain.
        logger.error({ code: toCosignerError(err).code, err: toCosignerError(err).message }, 'enclave did not start; retrying with backoff');
      });
    }

    let closed = false;
    return {
      config,
      controlSocketPath: control.path,
      metricsUrl,
      supervisor,
      link,
      metrics,
      logger,
      close: async () => {
        if (closed) return;
        closed = true;
        logger.info('cosigner-parent stopping');
        await closeAll();
      },
    };
  } catch (err) {
    logger.error({ code: toCosignerError(err).code, err: toCosignerError(err).message }, 'cosigner-parent failed to start');
    await closeAll();
    throw err;
  }
}
