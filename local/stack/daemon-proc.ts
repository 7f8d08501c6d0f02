// Local development host only. The local stack's parent daemon: its local-mode config file, and
// starting / stopping it either as `bin/cosigner-parent.mjs` (as an operator runs it) or in process.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../parent/config/config.ts';
import { startDaemon } from '../../parent/daemon/daemon.ts';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';
import { repoRoot, type LocalStackOptions, type StackPaths } from './types.ts';

/** The S3 stand-in as a daemon config names it. */
export interface StackS3 {
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  readonly leaseKey: string;
  readonly leaseTtlMs: number;
}

/** Write the daemon's local-mode config; the enclave bundle becomes its child process. */
export async function writeDaemonConfig(
  paths: StackPaths,
  o: { bundlePath: string; callback: LocalStackOptions['callback']; imdsUrl: string | undefined; metricsPort: number; s3?: StackS3 | undefined },
): Promise<void> {
  const cb = o.callback ?? {};
  const enclaveArgs = [
    '--dev-ca', paths.devCa,
    '--local',
    '--tls-ca', paths.caPem,
    ...(cb.timeoutMs !== undefined ? ['--callback-timeout-ms', String(cb.timeoutMs)] : []),
    ...(cb.retryIntervalMs !== undefined ? ['--callback-retry-interval-ms', String(cb.retryIntervalMs)] : []),
    ...(cb.retryTotalMs !== undefined ? ['--callback-retry-total-ms', String(cb.retryTotalMs)] : []),
    ...(cb.clockSpeedup !== undefined ? ['--callback-clock-speedup', String(cb.clockSpeedup)] : []),
  ];
  const daemonConfig = {
    mode: 'local',
    home: paths.home,
    bundlePath: o.bundlePath,
    enclaveArgs,
    wireUrl: `unix://${paths.enclaveSocket}`,
    allowListPath: paths.allowList,
    imdsEndpoint: o.imdsUrl ? o.imdsUrl.replace(/\/+$/, '') : 'http://127.0.0.1:9',
    metricsAddress: `127.0.0.1:${o.metricsPort}`,
    controlSocket: paths.controlSocket,
    restartInitialMs: 200,
    restartMaxMs: 2_000,
    // S3 storage: the sealed blobs in the stand-in's bucket and the lease beside them (one active signer).
    ...(o.s3
      ? {
          storage: { type: 's3', bucket: o.s3.bucket, prefix: o.s3.prefix, region: o.s3.region, endpoint: o.s3.url, retain: 0 },
          lease: { bucket: o.s3.bucket, objectKey: o.s3.leaseKey, ttlMs: o.s3.leaseTtlMs, region: o.s3.region, endpoint: o.s3.url },
        }
      : {}),
  };
  await writeFileAtomic(paths.daemonConfig, `${JSON.stringify(daemonConfig, null, 2)}\n`, 0o600);
}

/** The stack's daemon, started and stopped on demand (fault tests stop and kill it). */
export class StackDaemon {
  private child: ChildProcess | undefined;
  private inProcess: { close(): Promise<void> } | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: {
      readonly paths: StackPaths;
      readonly bundlePath: string;
      readonly missing: string[];
      readonly inProcessDaemon: LocalStackOptions['inProcessDaemon'];
    },
  ) {}

  get running(): boolean {
    return this.child !== undefined || this.inProcess !== undefined;
  }

  get isInProcess(): boolean {
    return this.inProcess !== undefined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { paths, bundlePath, missing } = this.o;
    if (this.o.inProcessDaemon) {
      const make = this.o.inProcessDaemon.blobs;
      const blobs = make ? await make(paths.home) : undefined;
      this.inProcess = await startDaemon(await loadConfig(paths.daemonConfig), blobs ? { blobs } : {});
      return;
    }
    const daemonBin = join(repoRoot, 'bin', 'cosigner-parent.mjs');
    if (!existsSync(daemonBin) || !existsSync(join(repoRoot, 'parent', 'daemon', 'main.ts'))) {
      if (!missing.some((m) => m.startsWith('parent daemon'))) missing.push('parent daemon (bin/cosigner-parent.mjs not in this tree)');
      return;
    }
    if (!existsSync(bundlePath)) throw new Error(`${bundlePath} is missing: run make bundle`);
    const child = spawn(process.execPath, [daemonBin, '--config', paths.daemonConfig], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    this.child = child;
    this.exited = new Promise((res) => child.once('exit', () => res()));
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.stdout?.resume();
    // Ready when the control socket answers.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (!this.child) throw new Error(`cosigner-parent exited during start-up: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      if (existsSync(paths.controlSocket) && /running/.test(stderr)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('cosigner-parent did not start within 20 s');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.inProcess) {
      const d = this.inProcess;
      this.inProcess = undefined;
      await d.close();
      return;
    }
    const d = this.child;
    if (!d) return;
    d.kill(signal);
    const t = setTimeout(() => d.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}
