// Local development host only (never in the enclave image). Starts the whole co-signer on one machine
// with no AWS: the local CA, the development attestation authority, the KMS stand-in (trusting the
// dev root, with a key policy generated from build/measurements-dev.json by scripts/key-policy.ts),
// the IMDSv2 stand-in, the reference coordinator and the parent daemon in local mode (which starts
// build/enclave-dev.mjs as its child). The sample Callback Handler starts once the co-signer's public
// key is known (after `cosigner setup`): `stack.startHandler(pem)`.
//
//   npx tsx local/stack.ts [--dir .local] [--fresh]      runs until Ctrl-C
//
// `startLocalStack()` is what local/demo.ts and test/e2e/ call. Stand-ins are loaded on demand: a
// component that is not in this tree is listed in `stack.missing` and printed, never faked.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { callDaemon } from '../parent/control/client.ts';
import { startTcpLink, type TcpLink } from './tcp-link.ts';
import type { BlobStore } from '../proto/ports.ts';
import { loadOrCreateLocalCa, type IssuedCert, type LocalCa } from './local-ca.ts';
import { writeFileAtomic } from '../parent/storage/write-file-atomic.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The AWS identities the stand-ins use (a fictitious account). */
export const LOCAL_ACCOUNT = '111122223333';
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_INSTANCE_ROLE = 'cosigner-instance';
export const LOCAL_ADMIN_ARN = `arn:aws:iam::${LOCAL_ACCOUNT}:role/cosigner-key-admin`;

export interface LocalStackOptions {
  /** State directory (default <repo>/.local). */
  readonly dir?: string;
  /** Wipe the state directory first. */
  readonly fresh?: boolean;
  /** Enclave bundle (default build/enclave-dev.mjs) and its measurements (build/measurements-dev.json). */
  readonly bundlePath?: string;
  readonly measurementsPath?: string;
  /** Start the parent daemon (as a child process, as an operator would run it). Default true. */
  readonly daemon?: boolean;
  /** Callback Handler deadline and RETRY schedule handed to the enclave (local mode only). */
  readonly callback?: { readonly timeoutMs?: number; readonly retryIntervalMs?: number; readonly retryTotalMs?: number; readonly clockSpeedup?: number };
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /**
   * Put a cuttable TCP link (local/tcp-link.ts) between the enclave and the coordinator, for
   * "coordinator unreachable" faults. Setup must then name `stack.coordinatorEndpoint`.
   */
  readonly coordinatorLink?: boolean;
  /**
   * Run the daemon inside this process (startDaemon) instead of as `bin/cosigner-parent.mjs`, with
   * these replacements, e.g. a blob store that can be made to report a full disk (fault tests).
   */
  readonly inProcessDaemon?: { readonly blobs?: (home: string) => BlobStore | Promise<BlobStore> };
}

/** The reference coordinator as the stack uses it (local/coordinator). */
export interface CoordinatorHandle {
  readonly restUrl: string;
  readonly cosignerUrl: string;
  readonly publicKeyPem: string;
  readonly ownerPublicKeyPem: string;
  issuePairingToken(userId: string, workspace: string): string | Promise<string>;
  close(): Promise<void>;
  readonly [k: string]: unknown;
}

/** The sample Callback Handler as the stack uses it (local/callback-handler). */
export interface HandlerHandle {
  readonly url: string;
  readonly publicKeyPem: string;
  /** Every call it received, with the action it answered. */
  readonly calls: { path: string; verified: boolean; requestId?: string; action?: string }[];
  /** Test knobs (never answer, wrong key, ...), changeable between calls. */
  readonly faults: { neverAnswer?: boolean; status?: number; [k: string]: unknown };
  /** Its approval rules, changeable between calls. */
  rules: Record<string, unknown>;
  close(): Promise<void>;
}

export interface LocalStack {
  readonly dir: string;
  readonly paths: {
    readonly home: string;
    readonly controlSocket: string;
    readonly enclaveSocket: string;
    readonly caPem: string;
    readonly devCa: string;
    readonly allowList: string;
    readonly daemonConfig: string;
    readonly policy: string;
  };
  readonly ca: LocalCa;
  readonly kms: { readonly url: string; readonly keyArn: string; readonly region: string } | undefined;
  readonly imds: { readonly url: string } | undefined;
  readonly coordinator: CoordinatorHandle | undefined;
  /** `host:port` the co-signer is told to reach the coordinator at (the link when there is one). */
  readonly coordinatorEndpoint: string | undefined;
  /** The cuttable link to the coordinator (when `coordinatorLink` was asked for). */
  readonly coordinatorLink: TcpLink | undefined;
  handler: HandlerHandle | undefined;
  /** The port reserved for the sample handler (it is in the relay allow-list). */
  readonly handlerPort: number;
  /** Components not available in this tree, with the reason. */
  readonly missing: string[];
  /** Start the sample Callback Handler for a co-signer public key. */
  startHandler(opts: { cosignerPublicKeyPem: string; rules?: unknown; mode?: 'public-key' | 'certificate' }): Promise<HandlerHandle | undefined>;
  /**
   * Wait until the daemon reports the enclave connected and past its boot (not-set-up, unsealed,
   * sealed or access-denied). Returns the daemon's status.
   */
  waitReady(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Start / stop / kill the daemon process (fault tests). */
  startDaemon(): Promise<void>;
  stopDaemon(): Promise<void>;
  killDaemon(signal?: NodeJS.Signals): Promise<void>;
  readonly daemonRunning: boolean;
  /** Run the real `cosigner` CLI against this stack. */
  cli(args: readonly string[], opts?: { timeoutMs?: number; input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

/** A loopback port that was free a moment ago (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

/** Import a stand-in module if it is in this tree; undefined (with the reason recorded) otherwise. */
async function optional<T>(rel: string, what: string, missing: string[]): Promise<T | undefined> {
  const path = join(repoRoot, rel);
  if (!existsSync(path)) {
    missing.push(`${what} (${rel} not in this tree)`);
    return undefined;
  }
  try {
    return (await import(pathToFileURL(path).href)) as T;
  } catch (err) {
    missing.push(`${what} (${rel} does not load: ${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

function hostPortOf(url: string): { host: string; port: number } {
  const u = new URL(url.includes('://') ? url : `tcp://${url}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/** Start the local stack. */
export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const dir = resolve(opts.dir ?? join(repoRoot, '.local'));
  if (opts.fresh) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const run = join(dir, 'run');
  await mkdir(run, { recursive: true, mode: 0o700 });
  const paths = {
    home: join(dir, 'home'),
    controlSocket: join(run, 'control.sock'),
    enclaveSocket: join(run, 'enclave.sock'),
    caPem: join(dir, 'ca', 'ca.pem'),
    devCa: join(dir, 'dev-ca'),
    allowList: join(dir, 'allowlist.json'),
    daemonConfig: join(dir, 'daemon.json'),
    policy: join(dir, 'key-policy.json'),
  };
  const bundlePath = resolve(opts.bundlePath ?? join(repoRoot, 'build', 'enclave-dev.mjs'));
  const measurementsPath = resolve(opts.measurementsPath ?? join(repoRoot, 'build', 'measurements-dev.json'));
  const missing: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };

  try {
    // 1. Local CA and the development attestation authority.
    const ca = await loadOrCreateLocalCa(join(dir, 'ca'));
    const serverCert = async (): Promise<IssuedCert> => ca.issueServerCert(['localhost', '127.0.0.1', '::1']);
    log(`local-stack: local CA            ${relative(process.cwd(), paths.caPem)}`);
    const attestation = await optional<{ DevAuthority: { loadOrCreate(dir: string): Promise<{ rootPem: string }> } }>(
      'enclave/dev/dev-authority.ts',
      'development attestation authority',
      missing,
    );
    const authority = attestation ? await attestation.DevAuthority.loadOrCreate(paths.devCa) : undefined;
    if (authority) log(`local-stack: dev attestation CA  ${relative(process.cwd(), paths.devCa)}`);

    // 2. IMDSv2 stand-in: the instance role's rotating credentials.
    type ImdsMod = typeof import('./imds/server.ts');
    const imdsMod = await optional<ImdsMod>('local/imds/server.ts', 'IMDSv2 stand-in', missing);
    const imds = imdsMod ? await imdsMod.startImdsStandin({ roleName: LOCAL_INSTANCE_ROLE, account: LOCAL_ACCOUNT }) : undefined;
    if (imds) {
      closers.push(() => imds.close());
      log(`local-stack: IMDSv2 stand-in     ${imds.url}  (role ${imds.roleArn})`);
    }

    // 3. KMS stand-in trusting the dev root; the key's policy comes from the bundle's measurements.
    type KmsMod = typeof import('./kms/server.ts');
    type PolicyMod = typeof import('../proto/kms/key-policy.ts');
    const kmsMod = await optional<KmsMod>('local/kms/server.ts', 'KMS stand-in', missing);
    const policyMod = await optional<PolicyMod>('proto/kms/key-policy.ts', 'key policy generator', missing);
    let kms: LocalStack['kms'];
    if (kmsMod && policyMod && authority && imds) {
      if (!existsSync(measurementsPath)) throw new Error(`${measurementsPath} is missing: run make bundle`);
      const measurements = policyMod.parseMeasurements(JSON.parse(await readFile(measurementsPath, 'utf8')));
      // The policy must admit the bundle the daemon will run: refuse stale measurements plainly.
      const measureMod = await optional<{ measureBundle(b: Uint8Array): { Measurements: { PCR0: string } } }>('proto/attestation/measure.ts', 'bundle measurement', missing);
      if (measureMod && existsSync(bundlePath) && measureMod.measureBundle(new Uint8Array(await readFile(bundlePath))).Measurements.PCR0 !== measurements.PCR0) {
        throw new Error(`${measurementsPath} does not match ${bundlePath} (rebuilt since?): run make bundle`);
      }
      const policy = policyMod.buildKeyPolicy({ measurements, instanceRoleArn: imds.roleArn, adminArn: LOCAL_ADMIN_ARN });
      await writeFileAtomic(paths.policy, `${JSON.stringify(policy, null, 2)}\n`);
      const server = await kmsMod.startKmsStandin({
        dir: join(dir, 'kms'),
        trustRootsPem: [authority.rootPem],
        tls: await serverCert(),
        principals: (id: string) => imds.lookup(id),
        region: LOCAL_REGION,
        account: LOCAL_ACCOUNT,
      });
      closers.push(() => server.close());
      // One key per state directory, kept across runs with the directory.
      const keyFile = join(dir, 'kms-key.json');
      let keyArn: string;
      const known = existsSync(keyFile) ? (JSON.parse(await readFile(keyFile, 'utf8')) as { arn?: string; pcr0?: string }) : {};
      if (known.arn && known.pcr0 === measurements.PCR0) keyArn = known.arn;
      else {
        keyArn = (await server.createKey(policy, 'nitro-cosigner local secrets.key')).arn;
        await writeFileAtomic(keyFile, `${JSON.stringify({ arn: keyArn, pcr0: measurements.PCR0 }, null, 2)}\n`);
      }
      kms = { url: server.url, keyArn, region: LOCAL_REGION };
      log(`local-stack: KMS stand-in        ${server.url}  key ${keyArn}`);
      log(`local-stack:   key policy        ${relative(process.cwd(), paths.policy)}  (PCR0 ${measurements.PCR0.slice(0, 16)}…)`);
    } else if (!kmsMod || !policyMod) {
      // already recorded
    } else {
      missing.push('KMS stand-in (needs the dev attestation authority and the IMDS stand-in)');
    }

    // 4. Reference coordinator (REST + TLS co-signer endpoint).
    const coordMod = await optional<{ startCoordinator(o: unknown): Promise<CoordinatorHandle> }>('local/coordinator/server.ts', 'reference coordinator', missing);
    const coordinator = coordMod ? await coordMod.startCoordinator({ dir: join(dir, 'coordinator'), tls: await serverCert(), port: 0, restPort: 0 }) : undefined;
    if (coordinator) {
      closers.push(() => coordinator.close());
      log(`local-stack: coordinator         REST ${coordinator.restUrl}  co-signer endpoint ${coordinator.cosignerUrl}`);
    }

    let link: TcpLink | undefined;
    if (coordinator && opts.coordinatorLink) {
      link = await startTcpLink(hostPortOf(coordinator.cosignerUrl));
      closers.push(() => link!.close());
      log(`local-stack: coordinator link    ${link.address} -> ${coordinator.cosignerUrl} (can be cut)`);
    }
    const coordinatorEndpoint = link ? link.address : coordinator?.cosignerUrl;

    // 5. Relay allow-list: exactly the stand-ins the enclave may reach.
    const handlerPort = await freePort();
    const allow: { address: string; port: number }[] = [];
    if (kms) allow.push({ address: '127.0.0.1', port: hostPortOf(kms.url).port });
    if (coordinatorEndpoint) {
      const c = hostPortOf(coordinatorEndpoint);
      allow.push({ address: c.host === 'localhost' ? '127.0.0.1' : c.host, port: c.port });
    }
    allow.push({ address: '127.0.0.1', port: handlerPort });
    await writeFileAtomic(paths.allowList, `${JSON.stringify({ allowlist: allow }, null, 2)}\n`);

    // 6. The parent daemon in local mode; it runs the enclave bundle as its child.
    const cb = opts.callback ?? {};
    const enclaveArgs = [
      '--dev-ca', paths.devCa,
      '--local',
      '--tls-ca', paths.caPem,
      ...(cb.timeoutMs !== undefined ? ['--callback-timeout-ms', String(cb.timeoutMs)] : []),
      ...(cb.retryIntervalMs !== undefined ? ['--callback-retry-interval-ms', String(cb.retryIntervalMs)] : []),
      ...(cb.retryTotalMs !== undefined ? ['--callback-retry-total-ms', String(cb.retryTotalMs)] : []),
      ...(cb.clockSpeedup !== undefined ? ['--callback-clock-speedup', String(cb.clockSpeedup)] : []),
    ];
    const metricsPort = await freePort();
    const daemonConfig = {
      mode: 'local',
      home: paths.home,
      bundlePath,
      enclaveArgs,
      wireUrl: `unix://${paths.enclaveSocket}`,
      allowListPath: paths.allowList,
      imdsEndpoint: imds ? imds.url.replace(/\/+$/, '') : 'http://127.0.0.1:9',
      metricsAddress: `127.0.0.1:${metricsPort}`,
      controlSocket: paths.controlSocket,
      restartInitialMs: 200,
      restartMaxMs: 2_000,
    };
    await writeFileAtomic(paths.daemonConfig, `${JSON.stringify(daemonConfig, null, 2)}\n`, 0o600);

    let daemon: ChildProcess | undefined;
    let inProcess: { close(): Promise<void> } | undefined;
    let daemonExit: Promise<void> = Promise.resolve();
    const daemonBin = join(repoRoot, 'bin', 'cosigner-parent.mjs');
    const startDaemonProc = async (): Promise<void> => {
      if (daemon || inProcess) return;
      if (opts.inProcessDaemon) {
        type ConfigMod = typeof import('../parent/config/config.ts');
        type DaemonMod = typeof import('../parent/daemon/daemon.ts');
        const cfgMod = await optional<ConfigMod>('parent/config/config.ts', 'parent daemon config', missing);
        const dMod = await optional<DaemonMod>('parent/daemon/daemon.ts', 'parent daemon', missing);
        if (!cfgMod || !dMod) return;
        const make = opts.inProcessDaemon.blobs;
        const blobs = make ? await make(paths.home) : undefined;
        inProcess = await dMod.startDaemon(await cfgMod.loadConfig(paths.daemonConfig), blobs ? { blobs } : {});
        return;
      }
      if (!existsSync(daemonBin) || !existsSync(join(repoRoot, 'parent', 'daemon', 'main.ts'))) {
        if (!missing.some((m) => m.startsWith('parent daemon'))) missing.push('parent daemon (bin/cosigner-parent.mjs not in this tree)');
        return;
      }
      if (!existsSync(bundlePath)) throw new Error(`${bundlePath} is missing: run make bundle`);
      const child = spawn(process.execPath, [daemonBin, '--config', paths.daemonConfig], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
      daemon = child;
      daemonExit = new Promise((res) => child.once('exit', () => res()));
      child.once('exit', () => {
        if (daemon === child) daemon = undefined;
      });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < 64 * 1024) stderr += d;
      });
      child.stdout?.resume();
      // Ready when the control socket answers.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        if (!daemon) throw new Error(`cosigner-parent exited during start-up: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
        if (existsSync(paths.controlSocket) && /running/.test(stderr)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('cosigner-parent did not start within 20 s');
    };
    const stopDaemonProc = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
      if (inProcess) {
        const d = inProcess;
        inProcess = undefined;
        await d.close();
        return;
      }
      const d = daemon;
      if (!d) return;
      d.kill(signal);
      const t = setTimeout(() => d.kill('SIGKILL'), 10_000);
      await daemonExit;
      clearTimeout(t);
    };
    if (opts.daemon !== false) {
      await startDaemonProc();
      if (daemon || inProcess) log(`local-stack: parent daemon ${inProcess ? '(in process) ' : ''}      control socket ${relative(process.cwd(), paths.controlSocket)}, COSIGNER_HOME ${relative(process.cwd(), paths.home)}, metrics http://127.0.0.1:${metricsPort}/metrics`);
    }
    closers.push(() => stopDaemonProc());

    const handlerMod = await optional<{ startSampleHandler(o: unknown): Promise<HandlerHandle> }>('local/callback-handler/handler.ts', 'sample Callback Handler', missing);
    const cliBin = join(repoRoot, 'bin', 'cosigner.mjs');

    const stack: LocalStack = {
      dir,
      paths,
      ca,
      kms,
      imds: imds ? { url: imds.url } : undefined,
      coordinator,
      coordinatorEndpoint,
      coordinatorLink: link,
      handler: undefined,
      handlerPort,
      missing,
      get daemonRunning() {
        return daemon !== undefined || inProcess !== undefined;
      },
      async startHandler(o) {
        if (!handlerMod) return undefined;
        if (stack.handler) await stack.handler.close();
        const h = await handlerMod.startSampleHandler({
          mode: o.mode ?? 'public-key',
          cosignerPublicKeyPem: o.cosignerPublicKeyPem,
          ...(o.rules !== undefined ? { rules: o.rules } : {}),
          port: handlerPort,
          // HTTPS in every mode, with a certificate from the local CA: the enclave starts TLS
          // itself, exactly as it would towards a customer's handler.
          tls: await serverCert(),
        });
        stack.handler = h;
        closers.push(async () => {
          if (stack.handler === h) await h.close();
        });
        log(`local-stack: sample handler      ${h.url}`);
        return h;
      },
      async waitReady(timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        let last: unknown;
        while (Date.now() < deadline) {
          try {
            const st = await callDaemon<Record<string, unknown>>(paths.controlSocket, 'status', {}, 5_000);
            last = st;
            const wire = st.wire as { connected?: boolean } | undefined;
            const enclave = st.enclave as { state?: string } | null | undefined;
            if (wire?.connected && enclave && enclave.state !== 'starting' && enclave.state !== 'unsealing') return st;
          } catch (err) {
            last = err;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`the enclave did not become ready within ${timeoutMs} ms: ${JSON.stringify(last instanceof Error ? last.message : last).slice(0, 500)}`);
      },
      startDaemon: startDaemonProc,
      stopDaemon: () => stopDaemonProc('SIGTERM'),
      killDaemon: (signal = 'SIGKILL') => stopDaemonProc(signal),
      cli: (args, o = {}) =>
        new Promise((res) => {
          const child = spawn(process.execPath, [cliBin, ...args], {
            cwd: repoRoot,
            stdio: ['pipe', 'pipe', 'pipe'],
            env: { ...process.env, COSIGNER_SOCKET: paths.controlSocket },
          });
          let stdout = '';
          let stderr = '';
          child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
          child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
          const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
          child.stdin.end(o.input ?? '');
          child.once('close', (code, signal) => {
            clearTimeout(t);
            res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
          });
        }),
      close: closeAll,
    };
    await writeFileAtomic(
      join(dir, 'stack.json'),
      `${JSON.stringify(
        {
          kms: kms ?? null,
          imds: imds ? { url: imds.url, roleArn: imds.roleArn } : null,
          coordinator: coordinator ? { restUrl: coordinator.restUrl, cosignerUrl: coordinator.cosignerUrl } : null,
          handlerPort,
          controlSocket: paths.controlSocket,
          home: paths.home,
          missing,
        },
        null,
        2,
      )}\n`,
    );
    for (const m of missing) log(`local-stack: NOT AVAILABLE       ${m}`);
    return stack;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, fresh: { type: 'boolean' } }, strict: true });
  const stack = await startLocalStack({ ...(values.dir ? { dir: values.dir } : {}), fresh: values.fresh === true });
  const sock = stack.paths.controlSocket;
  const cli = `COSIGNER_SOCKET=${sock} npx cosigner`;
  process.stdout.write(`local-stack: running; state in ${stack.dir}. Ctrl-C stops.\n`);
  if (stack.kms && stack.coordinator) {
    const coordPem = join(stack.dir, 'coordinator-public-key.pem');
    await writeFileAtomic(coordPem, stack.coordinator.publicKeyPem);
    const ownerPem = join(stack.dir, 'owner-public-key.pem');
    await writeFileAtomic(ownerPem, stack.coordinator.ownerPublicKeyPem);
    process.stdout.write(
      `local-stack: set up with:\n  ${cli} setup --kms-key-arn ${stack.kms.keyArn} --region ${stack.kms.region} --kms-endpoint ${stack.kms.url} ` +
        `--coordinator-url ${stack.coordinatorEndpoint} --coordinator-public-key ${coordPem} --owner-public-key ${ownerPem}\n`,
    );
  }
  let stopped = false;
  // Once the co-signer is set up, start the sample handler with its public key and say how to pair.
  const watcher = (async () => {
    while (!stopped && !stack.handler) {
      try {
        const st = await callDaemon<{ enclave?: { state?: string } | null }>(sock, 'status', {}, 5_000);
        if (st.enclave?.state === 'unsealed') {
          const pk = await callDaemon<{ publicKeyPem: string }>(sock, 'printPublicKey', {}, 5_000);
          const h = await stack.startHandler({ cosignerPublicKeyPem: pk.publicKeyPem, rules: { maxAmountPerAsset: { ETH: '10', BTC: '1' } } });
          if (h && stack.coordinator) {
            const pem = join(stack.dir, 'handler-public-key.pem');
            await writeFileAtomic(pem, h.publicKeyPem);
            const token = await stack.coordinator.issuePairingToken('local-user', 'local-workspace');
            process.stdout.write(
              `local-stack: pair a user with:\n  ${cli} add-user --pairing-token ${token} --callback-url ${h.url} --auth-mode public-key --handler-public-key ${pem}\n` +
                `local-stack: then approve it: curl -X POST ${stack.coordinator.restUrl.replace(/\/+$/, '')}/v1/users/local-user/approve\n`,
            );
          }
          return;
        }
      } catch {
        // daemon or enclave not ready yet
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();
  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
  stopped = true;
  await watcher.catch(() => undefined);
  await stack.close();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`local-stack: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
