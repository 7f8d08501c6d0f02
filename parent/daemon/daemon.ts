// Runs on the parent. `cosigner-parent`: wires the supervisor, the enclave link (wire + ports), the
// log sink, the control socket, metrics and health together. `startDaemon` is also what tests and
// local/stack.ts call to run a daemon in-process. The control requests are answered in
// control-handler.ts; the enclave's backend, logs and state tracking are in enclave-watch.ts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { toCosignerError } from '../../proto/errors.ts';
import type { BlobStore, CredentialSource } from '../../proto/ports.ts';
import type { DaemonConfig } from '../config/config.ts';
import { startControlServer } from '../control/server.ts';
import { BoundedQueue } from '../control/queue.ts';
import { RotatingLog } from '../logs/rotating-log.ts';
import { createCosignerMetrics, type CosignerMetrics } from '../metrics/cosigner-metrics.ts';
import { EnclaveStatsMirror, imageIdOf } from '../metrics/enclave-stats.ts';
import { startMetricsServer } from '../metrics/server.ts';
import { ImdsCredentialSource } from '../credentials/imds.ts';
import { createRelay, loadAllowList, parseAllowList, type Relay } from '../relay/index.ts';
import { FileBlobStore } from '../storage/file-blob-store.ts';
import { S3BlobStore } from '../storage/s3-blob-store.ts';
import { Supervisor } from '../supervisor/supervisor.ts';
import { VERSION, createControlHandler } from './control-handler.ts';
import { EnclaveLink } from './enclave-link.ts';
import { enclaveBackend, enclaveLogHandlers, expectedBuildId, watchEnclave } from './enclave-watch.ts';
import { readImageState } from './image-state.ts';
import { LeaseRunner, createLease, guardBlobs } from './lease-runner.ts';
import type { ConditionalObjects } from '../storage/conditional-objects.ts';

export { toJsonSafe } from './control-handler.ts';

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
  /** The lease object's store instead of S3 (tests: two daemons on one in-memory store). */
  readonly leaseStore?: ConditionalObjects;
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

/** The daemon's own log: pino into the rotating log sink. */
function daemonLogger(sink: RotatingLog): pino.Logger {
  return pino(
    {
      base: { src: 'parent', pid: process.pid },
      // Defence in depth: the parent never holds a secret, but credentials pass through it.
      redact: { paths: ['*.secretAccessKey', '*.sessionToken', 'secretAccessKey', 'sessionToken', '*.pairingToken', 'pairingToken'], censor: '[redacted]' },
    },
    { write: (line: string) => sink.write(line.trimEnd()) },
  );
}

/** /metrics and /healthz, when configured; null otherwise. */
async function startMetrics(
  config: DaemonConfig,
  o: { supervisor: Supervisor; link: EnclaveLink; metrics: CosignerMetrics; stats: EnclaveStatsMirror; cleanups: Array<() => Promise<void> | void> },
): Promise<string | null> {
  if (!config.metricsAddress) return null;
  const { supervisor, link, metrics, stats } = o;
  const m = await startMetricsServer(config.metricsAddress, metrics.registry, () => ({
    ok: supervisor.state === 'running' && link.connected,
    enclave: supervisor.state,
    wire: link.connected ? 'connected' : 'disconnected',
    sealed: stats.state === 'unsealed' ? 'unsealed' : 'sealed',
  }));
  o.cleanups.push(() => m.close());
  return m.url;
}

/**
 * The configured blob store. S3 is checked before anything starts: a missing, unversioned or
 * unwritable bucket is ERR_BUCKET_UNUSABLE (exit 1), never a silent fall back to the local disk.
 */
async function openBlobStore(config: DaemonConfig, credentials: CredentialSource): Promise<BlobStore> {
  const s = config.storage;
  if (s.type === 'file') return FileBlobStore.open(config.home);
  return S3BlobStore.open({ bucket: s.bucket, prefix: s.prefix, region: s.region, retain: s.retain, credentials, ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}) });
}

/**
 * Start the parent daemon: log sink, blob store, supervisor (and the enclave unless
 * `overrides.startEnclave === false`), wire link, control socket, metrics.
 */
export async function startDaemon(config: DaemonConfig, overrides: DaemonOverrides = {}): Promise<RunningDaemon> {
  for (const d of ['db', 'backup', 'log', 'run']) mkdirSync(join(config.home, d), { recursive: true, mode: 0o700 });
  const metrics = createCosignerMetrics({ version: VERSION });
  const sink = new RotatingLog({
    dir: join(config.home, 'log'),
    maxBytes: config.logMaxBytes,
    keep: config.logKeep,
    onWriteFailure: (code) => metrics.logWriteFailures.inc({ code: code.slice(0, 16) }),
  });
  const logger = daemonLogger(sink);
  const cleanups: Array<() => Promise<void> | void> = [() => sink.close()];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };

  try {
    const credentials = overrides.credentials ?? new ImdsCredentialSource({ endpoint: config.imdsEndpoint });
    const blobs = overrides.blobs ?? (await openBlobStore(config, credentials));
    const allowList = config.allowListPath ? loadAllowList(config.allowListPath) : parseAllowList({ allowlist: [] });
    const relay = overrides.relay ?? createRelay(allowList, { logger });
    const { onEnclaveLog, onConsole } = enclaveLogHandlers(sink);

    const imageState = await readImageState(config.home);
    const image = imageState?.current ?? (config.mode === 'nitro' ? config.eifPath : config.bundlePath);
    const backend = enclaveBackend(config, overrides, onConsole, logger);
    const supervisor = new Supervisor({ backend, image, restartInitialMs: config.restartInitialMs, restartMaxMs: config.restartMaxMs });
    const lease = createLease(config.lease, overrides.leaseStore, credentials); // one active signer (lease-runner.ts)
    const link = new EnclaveLink({ wireUrl: config.wireUrl, expectBuild: () => expectedBuildId(config, supervisor.image), blobs: lease ? guardBlobs(blobs, lease) : blobs, credentials, relay, onLog: onEnclaveLog, logger: logger.child({ component: 'wire' }) });
    // Short id of the running image's measurements for cosigner_build_info; image.json changes on upgrade.
    let imageId = imageIdOf(imageState?.measurements);
    supervisor.on('started', () => void readImageState(config.home).then((st) => (imageId = imageIdOf(st?.measurements))));
    const stats = new EnclaveStatsMirror(metrics, { version: VERSION, imageId: () => imageId });
    const watch = watchEnclave({ config, supervisor, link, relay, metrics, stats, logger });
    const leaseRunner = lease ? new LeaseRunner({ lease, supervisor, link, metrics, logger: logger.child({ component: 'lease' }), wanted: overrides.startEnclave !== false }) : null;
    cleanups.push(async () => {
      await link.disconnect();
      await supervisor.stop().catch(() => undefined);
    });
    if (leaseRunner) cleanups.push(() => leaseRunner.close()); // runs first: enclave down, then the lease released
    cleanups.push(() => watch.stopPolling());

    const queue = new BoundedQueue(config.queueLimit, config.maxConcurrent, (d) => metrics.queueDepth.set(d));
    const control = await startControlServer({
      path: config.controlSocket,
      handler: createControlHandler({
        config,
        supervisor,
        link,
        queue,
        logger,
        logStats: () => sink.stats,
        refreshEnclaveStatus: watch.refreshEnclaveStatus,
        ...(blobs instanceof FileBlobStore ? { backups: blobs } : {}),
        egress: { allows: (h, p) => allowList.allows(h, p), path: config.allowListPath },
        ...(leaseRunner ? { lease: leaseRunner } : {}),
      }),
      onInternalError: (err) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'control handler failed'),
      onRequest: (method, outcome, seconds) => {
        metrics.requests.inc({ method, outcome });
        metrics.latency.observe({ method }, seconds);
        if (outcome === 'ERR_BUSY') metrics.busyRejections.inc();
      },
    });
    cleanups.push(() => control.close());
    const metricsUrl = await startMetrics(config, { supervisor, link, metrics, stats, cleanups });

    if (config.debug) logger.warn('debug mode: the enclave\'s PCRs read as zeros, so KMS will not release secrets to it; never use with production keys');
    logger.info({ mode: config.mode, image, wireUrl: config.wireUrl, control: config.controlSocket, metrics: metricsUrl, version: VERSION }, 'cosigner-parent started');
    leaseRunner?.start(); // standby until the lease is ours: the runner starts the enclave on takeover
    if (!leaseRunner && overrides.startEnclave !== false) {
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
