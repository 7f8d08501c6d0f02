// Runs in the enclave: the composition root. Listens for the parent on the wire, builds the ports over
// whichever parent is connected, creates the attestor the bundle was BUILT for, and serves
// `cosigner.v1.Control` (proto/control.proto) backed by enclave/services/. What differs between the
// production and the development build (attestor, flags, callback clock) comes from the build
// profile (enclave/services/build-profile.ts); the development one is not in the production bundle.
//
// ── Command-line contract with the parent daemon (also in docs/local-mode.md) ──────────────────────
//
//   node build/enclave-<mode>.mjs --listen <wire URL> [--dev-ca DIR] [--local] [--tls-ca FILE]
//                                 [--log-level LEVEL] [--instance-id ID]
//                                 [--callback-timeout-ms N] [--callback-retry-interval-ms N]
//                                 [--callback-retry-total-ms N] [--callback-clock-speedup K]
//
//   <mode>          dev | nsm — fixed at bundle time (__COSIGNER_ATTESTATION_MODE__), not a flag;
//                   the nsm bundle contains no development code (enclave/dev/ is not bundled).
//   --listen URL    vsock://CID:PORT | unix:///abs/path | tcp://127.0.0.1:PORT (required).
//   --dev-ca DIR    dev builds only, required there: the development attestation authority's directory.
//   --local         dev builds only: plain-http Callback Handlers allowed (logged), setup may name the
//                   KMS stand-in endpoint.
//   --tls-ca FILE   dev + --local only: PEM CA trusted for KMS / coordinator / handler TLS.
//   --instance-id   dev only: instance id in the development authority's PCR4 (default: the authority's i-00000000000000000).
//   --callback-*-ms dev + --local only: handler call deadline and RETRY schedule (demo, tests).
//   --callback-clock-speedup K  dev + --local only: the RETRY schedule's clock runs K× faster (1-1000),
//                   so the real 30 s minimum interval takes 30/K s in the demo.
//   An NSM build knows only --listen and --log-level: every dev-only flag is an unknown flag there,
//   refused like any other. Exit codes: 0 after
//   SIGTERM/SIGINT, 1 fatal start-up error (stderr; ERR_PRIVILEGE_DROP when an NSM build cannot
//   give up root for uid/gid 65532 after opening /dev/nsm), 2 usage error (stderr).
//   Once listening, prints exactly one stdout line:
//     cosigner-enclave listening <address> mode=<mode> build=<build id>
//   and from then on logs only through the wire (Parent/Log).
//   Build id = `nitro-cosigner-` + first 16 hex of SHA-256(bundle file) (build/enclave-<mode>.json).
//   The same bundle started as a worker thread with workerData.role = 'cosigner-ecdsa-worker' runs a
//   threshold ECDSA worker (enclave/mpc/ecdsa/host/pool.ts) instead: no flags, no listener.
// ────────────────────────────────────────────────────────────────────────────────────────────────
import { BUNDLED } from './services/bundle-env.ts';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CosignerError, toCosignerError } from '../proto/errors.ts';
import { Peer } from '../proto/runtime/peer.ts';
import { serveTyped } from '../proto/runtime/typed-service.ts';
import { createWirePorts } from './wire/ports.ts';
import { systemClock, type EnclavePorts } from '../proto/ports.ts';
import { WireLogSink } from './wire/log-sink.ts';
import { loadBuildProfile } from './services/build-profile.ts';
import { buildIdFor, UNBUNDLED_BUILD_ID } from './services/build-id.ts';
import { createControlService } from './services/control.ts';
import { Cosigner } from './services/cosigner.ts';
import { createEnclaveLogger } from './services/logger.ts';
import { createRealBackends } from './services/real-backends.ts';
import { dropPrivileges } from './services/drop-privileges.ts';
import { PortSwitchboard } from './services/switchboard.ts';
import type { Backends } from './services/backends.ts';
import { stopOnSignals } from './services/stop-signals.ts';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ECDSA_WORKER_ROLE, serveEcdsaWorker } from './mpc/ecdsa/host/worker.ts';

/** A running enclave process (returned for in-process tests). */
export interface RunningEnclave {
  readonly address: string;
  /** The attestation mode this code was built for (unbundled runs are 'dev'). */
  readonly mode: 'nsm' | 'dev';
  readonly buildId: string;
  readonly cosigner: Cosigner;
  close(): Promise<void>;
}

/** Test seam: replace the module wiring (the default is createRealBackends). */
export interface StartOverrides {
  readonly backends?: (ports: EnclavePorts, ctx: Parameters<typeof createRealBackends>[0]) => Backends;
  /** Bytes the development attestor measures; default: this file (the bundle). */
  readonly bundleBytes?: Uint8Array;
}

async function ownBytes(): Promise<Uint8Array> {
  return new Uint8Array(await readFile(fileURLToPath(import.meta.url)));
}

/**
 * Start the enclave: parse `argv` strictly, listen on the wire, serve Control. The first parent
 * connection triggers the boot (unseal when secrets exist). One parent at a time: while a connection
 * is served, the listener refuses others (ERR_LINK_BUSY); once it is gone, the next one takes the ports.
 */
export async function startEnclave(argv: readonly string[], overrides: StartOverrides = {}): Promise<RunningEnclave> {
  const profile = await loadBuildProfile();
  const flags = profile.parseFlags(argv);
  const bundleBytes = overrides.bundleBytes ?? (await ownBytes());
  const buildId = BUNDLED ? buildIdFor(bundleBytes) : UNBUNDLED_BUILD_ID;
  const switchboard = new PortSwitchboard(systemClock);
  const logger = createEnclaveLogger(switchboard.logs, { level: flags.logLevel, buildId });
  const tlsCaPem = await profile.loadTlsCa(flags);
  const attestor = await profile.createAttestor(flags, bundleBytes);
  // Production: /dev/nsm is open now, and nothing later needs root (vsock port 5000 is unprivileged).
  // nitro-cli ignores the image's USER, so give root up here, before the first byte from the parent.
  if (profile.mode === 'nsm') dropPrivileges();
  const callbackClock = profile.callbackClock(switchboard.clock, flags);
  const ctx = { ports: switchboard, attestor, logger, localMode: flags.local, tlsCaPem, callback: flags.callback, callbackClock };
  const backends = overrides.backends ? overrides.backends(switchboard, ctx) : createRealBackends(ctx);
  const cosigner = new Cosigner({ backends, attestor, buildId, localMode: flags.local, logger, clock: systemClock });
  const control = createControlService(cosigner, logger);
  if (flags.local) logger.warn('local mode: development build, stand-in services, plain-http handlers allowed');

  let current: { peer: Peer; ports: EnclavePorts } | undefined;
  const listener = await Peer.listen(flags.listen, { role: 'enclave', buildId, logger: logger.child({ component: 'wire' }) }, (peer) => {
    // The listener admits one connection at a time (proto/runtime/link-listener.ts): no other
    // process on the parent can take the link over while this one lives.
    const ports = createWirePorts(peer);
    current = { peer, ports };
    serveTyped(peer, 'cosigner.v1.Control', control);
    switchboard.attach(ports);
    peer.once('close', (err?: CosignerError) => {
      switchboard.detach(ports);
      if (current?.peer === peer) current = undefined;
      logger.warn({ code: err?.code ?? 'closed' }, 'parent disconnected');
    });
    logger.info({ parentBuild: peer.remoteBuildId }, 'parent connected');
    void cosigner.boot();
  });

  return {
    address: listener.address,
    mode: profile.mode,
    buildId,
    cosigner,
    close: async () => {
      await cosigner.shutdown();
      const sink = current?.ports.logs;
      if (sink instanceof WireLogSink) await Promise.race([sink.flush(), new Promise((r) => setTimeout(r, 1_000).unref())]);
      await listener.close();
    },
  };
}

async function main(): Promise<void> {
  let enclave: RunningEnclave;
  try {
    enclave = await startEnclave(process.argv.slice(2));
  } catch (err) {
    const e = toCosignerError(err);
    process.stderr.write(`cosigner-enclave: ${e.code}: ${e.message}\n`);
    process.exit(e.code === 'ERR_USAGE' ? 2 : 1);
  }
  process.stdout.write(`cosigner-enclave listening ${enclave.address} mode=${enclave.mode} build=${enclave.buildId}\n`);
  stopOnSignals(enclave);
}

const entry = process.argv[1] ? resolve(process.argv[1]) : '';
if (!isMainThread && parentPort && (workerData as { role?: unknown } | null)?.role === ECDSA_WORKER_ROLE) {
  // The same measured bundle, started again as a threshold ECDSA worker (mpc/ecdsa/host/pool.ts).
  serveEcdsaWorker(parentPort);
} else if (isMainThread && (BUNDLED || entry === fileURLToPath(import.meta.url))) void main();
