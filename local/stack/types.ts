// Local development host only. The local stack's public types, constants and small helpers, shared
// by local/stack.ts and its steps in local/stack/.
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlobStore } from '../../proto/ports.ts';
import type { LocalCa } from '../local-ca.ts';
import type { TcpLink } from '../tcp-link.ts';
import type { RunningCoordinator } from '../coordinator/server.ts';
import type { SampleHandler } from '../callback-handler/handler.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

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
  /**
   * Where the daemon keeps the sealed blobs: 's3' (default) in the S3 stand-in's versioned bucket,
   * with the one-active-signer lease beside them; 'file' in COSIGNER_HOME/db (tests that read the
   * sealed files on disk).
   */
  readonly storage?: 'file' | 's3';
  /** The lease's TTL with S3 storage (default 10 s: a restarted stack takes over quickly). */
  readonly leaseTtlMs?: number;
}

/** A further daemon (own home, control and wire sockets) against the same stand-ins and bucket. */
export interface ExtraDaemon {
  readonly paths: StackPaths;
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
  readonly running: boolean;
  cli(args: readonly string[], opts?: { timeoutMs?: number; input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** The reference coordinator as the stack uses it (local/coordinator). */
export type CoordinatorHandle = RunningCoordinator;

/** The sample Callback Handler as the stack uses it (local/callback-handler). */
export type HandlerHandle = SampleHandler;

/** Where the stack keeps its files. */
export interface StackPaths {
  readonly home: string;
  readonly controlSocket: string;
  readonly enclaveSocket: string;
  readonly caPem: string;
  readonly devCa: string;
  readonly allowList: string;
  readonly daemonConfig: string;
  readonly policy: string;
}

export interface LocalStack {
  readonly dir: string;
  readonly paths: StackPaths;
  readonly ca: LocalCa;
  readonly kms:
    | {
        readonly url: string;
        readonly keyArn: string;
        readonly region: string;
        /** The key policy's administrator (local/stack/kms-admin.ts): the principal that may PutKeyPolicy. */
        readonly admin: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly arn: string };
      }
    | undefined;
  readonly imds: { readonly url: string } | undefined;
  /** The S3 stand-in with the daemon's bucket (undefined with file storage). */
  readonly s3: { readonly url: string; readonly bucket: string; readonly prefix: string; readonly region: string } | undefined;
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
  /**
   * Another daemon in `<dir>/<name>/` (fresh home, its own sockets and metrics port) with this
   * stack's config otherwise: the same stand-ins, bucket and lease. Not started yet; stopped by close().
   */
  extraDaemon(name: string): Promise<ExtraDaemon>;
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

export function hostPortOf(url: string): { host: string; port: number } {
  const u = new URL(url.includes('://') ? url : `tcp://${url}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}
