// Local development host only (never in the enclave image). Starts the whole co-signer on one machine
// with no AWS: the local CA, the development attestation authority, the KMS stand-in (trusting the
// dev root, with a key policy generated from build/measurements-dev.json by scripts/key-policy.ts),
// the IMDSv2 stand-in, the reference coordinator and the parent daemon in local mode (which starts
// build/enclave-dev.mjs as its child). The sample Callback Handler starts once the co-signer's public
// key is known (after `cosigner setup`): `stack.startHandler(pem)`.
//
//   npx tsx local/stack.ts [--dir .local] [--fresh]      runs until Ctrl-C
//
// `startLocalStack()` is what local/demo.ts and test/e2e/ call. The steps live in local/stack/.
// Every stand-in is imported statically: they are all part of this tree, so a broken one fails the
// start loudly instead of being skipped.
import { mkdir, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DevAuthority } from '../enclave/dev/dev-authority.ts';
import { callDaemon } from '../parent/control/client.ts';
import { writeFileAtomic } from '../parent/storage/write-file-atomic.ts';
import { startSampleHandler } from './callback-handler/handler.ts';
import type { HandlerRules } from './callback-handler/rules.ts';
import { loadOrCreateLocalCa, type IssuedCert } from './local-ca.ts';
import { StackDaemon, writeDaemonConfig, type StackS3 } from './stack/daemon-proc.ts';
import { makeExtraDaemon } from './stack/extra-daemon.ts';
import { runCli, waitReady, writeStackSummary } from './stack/ops.ts';
import { isSetUp, loadHandlerConfig, loadPorts, newHandlerKeyPem, saveHandlerConfig, savedPortOr0, savedPortOrFree, savePorts, type HandlerConfig } from './stack/persisted.ts';
import { LOCAL_LEASE_KEY, bucketObjectsDir, startS3Step } from './stack/s3-step.ts';
import { startCoordinatorStep, startImdsStep, startKmsStep, writeAllowList, type StepContext } from './stack/standins.ts';
import { hostPortOf, repoRoot, type HandlerHandle, type LocalStack, type LocalStackOptions, type StackPaths } from './stack/types.ts';

export {
  LOCAL_ACCOUNT,
  LOCAL_ADMIN_ARN,
  LOCAL_INSTANCE_ROLE,
  LOCAL_REGION,
  freePort,
  repoRoot,
  type CoordinatorHandle,
  type ExtraDaemon,
  type HandlerHandle,
  type LocalStack,
  type LocalStackOptions,
  type StackPaths,
} from './stack/types.ts';

function stackPaths(dir: string): StackPaths {
  const run = join(dir, 'run');
  return {
    home: join(dir, 'home'),
    controlSocket: join(run, 'control.sock'),
    enclaveSocket: join(run, 'enclave.sock'),
    caPem: join(dir, 'ca', 'ca.pem'),
    devCa: join(dir, 'dev-ca'),
    allowList: join(dir, 'allowlist.json'),
    daemonConfig: join(dir, 'daemon.json'),
    policy: join(dir, 'key-policy.json'),
  };
}

/**
 * Steps 2–5: the stand-ins the enclave talks to and the relay allow-list. A dir that already holds a
 * set-up co-signer is restarted, not re-created: every stand-in reloads its state from the dir and
 * listens where the enclave sealed it would (ports.json).
 */
async function startStandins(
  ctx: StepContext,
  o: { devRootPem: string; bundlePath: string; measurementsPath: string; withLink: boolean; setUp: boolean; s3: boolean; leaseTtlMs: number | undefined },
) {
  const { dir, paths } = ctx;
  const saved = await loadPorts(dir);
  // 2. IMDSv2 stand-in, 3. KMS stand-in, 4. reference coordinator (and its link).
  const imds = await startImdsStep(ctx);
  const kms = await startKmsStep(ctx, { devRootPem: o.devRootPem, imds, bundlePath: o.bundlePath, measurementsPath: o.measurementsPath, port: await savedPortOr0(saved, 'kms', dir), keepKey: o.setUp });
  const coordinatorPorts = {
    cosigner: await savedPortOr0(saved, 'coordinator', dir),
    rest: await savedPortOr0(saved, 'coordinatorRest', dir),
    link: o.withLink ? await savedPortOr0(saved, 'coordinatorLink', dir) : 0,
  };
  // The S3 stand-in (S3 storage): the sealed blobs survive the loss of COSIGNER_HOME.
  const s3 = o.s3 ? await startS3Step(ctx, { imds, port: await savedPortOr0(saved, 's3', dir) }) : undefined;
  const { coordinator, link, endpoint: coordinatorEndpoint } = await startCoordinatorStep(ctx, o.withLink, { devRootPem: o.devRootPem, measurementsPath: o.measurementsPath }, coordinatorPorts);

  // 5. Relay allow-list: exactly the stand-ins the enclave may reach.
  const handlerPort = await savedPortOrFree(saved, 'handler', dir);
  await writeAllowList(paths.allowList, { kmsUrl: kms.url, coordinatorEndpoint, handlerPort });
  const metricsPort = await savedPortOrFree(saved, 'metrics', dir);
  await savePorts(dir, {
    ...saved,
    kms: hostPortOf(kms.url).port,
    coordinator: hostPortOf(coordinator.cosignerUrl).port,
    coordinatorRest: hostPortOf(coordinator.restUrl).port,
    ...(link ? { coordinatorLink: hostPortOf(link.address).port } : {}),
    handler: handlerPort,
    metrics: metricsPort,
    ...(s3 ? { s3: hostPortOf(s3.url).port } : {}),
  });
  const stackS3: StackS3 | undefined = s3 ? { ...s3, leaseKey: LOCAL_LEASE_KEY, leaseTtlMs: o.leaseTtlMs ?? 10_000 } : undefined;
  return { imds, kms, s3, stackS3, coordinator, link, coordinatorEndpoint, handlerPort, metricsPort };
}

/** Start the local stack. */
export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const dir = resolve(opts.dir ?? join(repoRoot, '.local'));
  if (opts.fresh) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(join(dir, 'run'), { recursive: true, mode: 0o700 });
  const paths = stackPaths(dir);
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
    const ctx: StepContext = { dir, paths, log, closers, serverCert };
    log(`local-stack: local CA            ${relative(process.cwd(), paths.caPem)}`);
    const authority = await DevAuthority.loadOrCreate(paths.devCa);
    log(`local-stack: dev attestation CA  ${relative(process.cwd(), paths.devCa)}`);

    // 2.–5. The stand-ins and the allow-list (a set-up dir: their state and ports come back).
    const setUp = isSetUp(paths.home, bucketObjectsDir(dir));
    const standins = { devRootPem: authority.rootPem, bundlePath, measurementsPath, withLink: opts.coordinatorLink === true, setUp, s3: (opts.storage ?? 's3') === 's3', leaseTtlMs: opts.leaseTtlMs };
    const { imds, kms, s3, stackS3, coordinator, link, coordinatorEndpoint, handlerPort, metricsPort } = await startStandins(ctx, standins);

    // 6. The parent daemon in local mode; it runs the enclave bundle as its child.
    await writeDaemonConfig(paths, { bundlePath, callback: opts.callback, imdsUrl: imds.url, metricsPort, s3: stackS3 });
    const daemon = new StackDaemon({ paths, bundlePath, missing, inProcessDaemon: opts.inProcessDaemon });
    if (opts.daemon !== false) {
      await daemon.start();
      if (daemon.running) log(`local-stack: parent daemon ${daemon.isInProcess ? '(in process) ' : ''}      control socket ${relative(process.cwd(), paths.controlSocket)}, COSIGNER_HOME ${relative(process.cwd(), paths.home)}, metrics http://127.0.0.1:${metricsPort}/metrics`);
    }
    closers.push(() => daemon.stop());

    const launchHandler = async (c: HandlerConfig): Promise<HandlerHandle> => {
      if (stack.handler) await stack.handler.close();
      const h = await startSampleHandler({
        mode: c.mode,
        cosignerPublicKeyPem: c.cosignerPublicKeyPem,
        ...(c.rules !== undefined ? { rules: c.rules as HandlerRules } : {}),
        privateKeyPem: c.privateKeyPem,
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
    };

    const stack: LocalStack = {
      dir,
      paths,
      ca,
      kms,
      imds: { url: imds.url },
      s3,
      coordinator,
      coordinatorEndpoint,
      coordinatorLink: link,
      handler: undefined,
      handlerPort,
      missing,
      get daemonRunning() {
        return daemon.running;
      },
      async startHandler(o) {
        // A new handler, with a new signing key; kept (handler.json) for a restart of the stack.
        const c: HandlerConfig = { mode: o.mode ?? 'public-key', cosignerPublicKeyPem: o.cosignerPublicKeyPem, ...(o.rules !== undefined ? { rules: o.rules } : {}), privateKeyPem: newHandlerKeyPem() };
        const h = await launchHandler(c);
        await saveHandlerConfig(dir, c);
        return h;
      },
      waitReady: (timeoutMs = 30_000) => waitReady(paths.controlSocket, timeoutMs),
      startDaemon: () => daemon.start(),
      stopDaemon: () => daemon.stop('SIGTERM'),
      killDaemon: (signal = 'SIGKILL') => daemon.stop(signal),
      extraDaemon: (name) => makeExtraDaemon(paths, join(dir, name), { bundlePath, callback: opts.callback, imdsUrl: imds.url, s3: stackS3, missing, closers }),
      cli: (args, o = {}) => runCli(paths.controlSocket, args, { ...o, instance: { caPem: paths.caPem, imdsUrl: imds.url } }),
      close: closeAll,
    };
    // A restart brings back the handler the co-signer's users were set up with (same key and port).
    const handlerConfig = setUp ? await loadHandlerConfig(dir) : undefined;
    if (handlerConfig) await launchHandler(handlerConfig);
    await writeStackSummary(stack, imds.roleArn);
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
        const st = await (callDaemon(sock, 'status', {}, 5_000) as Promise<{ enclave?: { state?: string } | null }>);
        if (st.enclave?.state === 'unsealed') {
          const pk = await (callDaemon(sock, 'printPublicKey', {}, 5_000) as Promise<{ publicKeyPem: string }>);
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
