// Local development host only. A further parent daemon against the same local stand-ins: its own
// COSIGNER_HOME, control socket, wire socket and metrics port, the same KMS, coordinator, relay
// allow-list, S3 bucket and lease. This is how the e2e tests play a replacement instance (a fresh
// home, the same bucket) and a standby (two daemons, one lease) without a second stack.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StackDaemon, writeDaemonConfig, type StackS3 } from './daemon-proc.ts';
import { runCli } from './ops.ts';
import { freePort, type ExtraDaemon, type LocalStackOptions, type StackPaths } from './types.ts';

export async function makeExtraDaemon(
  base: StackPaths,
  dir: string,
  o: { bundlePath: string; callback: LocalStackOptions['callback']; imdsUrl: string; s3: StackS3 | undefined; missing: string[]; closers: Array<() => Promise<void>> },
): Promise<ExtraDaemon> {
  const run = join(dir, 'run');
  await mkdir(run, { recursive: true, mode: 0o700 });
  // Its own home and sockets; the CA, dev attestation CA and allow-list are the stack's.
  const paths: StackPaths = {
    ...base,
    home: join(dir, 'home'),
    controlSocket: join(run, 'control.sock'),
    enclaveSocket: join(run, 'enclave.sock'),
    daemonConfig: join(dir, 'daemon.json'),
  };
  await writeDaemonConfig(paths, { bundlePath: o.bundlePath, callback: o.callback, imdsUrl: o.imdsUrl, metricsPort: await freePort(), s3: o.s3 });
  const daemon = new StackDaemon({ paths, bundlePath: o.bundlePath, missing: o.missing, inProcessDaemon: undefined });
  o.closers.push(() => daemon.stop());
  return {
    paths,
    start: () => daemon.start(),
    stop: (signal = 'SIGTERM') => daemon.stop(signal),
    get running() {
      return daemon.running;
    },
    cli: (args, c = {}) => runCli(paths.controlSocket, args, { ...c, instance: { caPem: paths.caPem, imdsUrl: o.imdsUrl } }),
  };
}
