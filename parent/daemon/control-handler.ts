// Runs on the parent. The daemon's answer to each control-socket request: forwards the enclave's
// operations over the wire link (through the bounded queue) and handles the parent's own ones
// (status, logs, start/stop/restart, upgrade) locally.
import { join } from 'node:path';
import type pino from 'pino';
import { CosignerError } from '../../proto/errors.ts';
import type { DaemonConfig } from '../config/config.ts';
import type { BoundedQueue } from '../control/queue.ts';
import { METHODS, type ControlRequest, type ControlRpc } from '../control/protocol.ts';
import type { CallOptions } from '../../proto/runtime/peer.ts';
import { liveSize, readFrom, readLogs } from '../logs/read-logs.ts';
import type { LogStats } from '../logs/rotating-log.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { EnclaveLink } from './enclave-link.ts';
import { performUpgrade } from './upgrade.ts';
import type { FileBlobStore } from '../storage/file-blob-store.ts';
import { listGenerations, restoreGeneration } from '../storage/backups.ts';

export const VERSION = '0.1.0';
const MUTATING = new Set(['setup', 'unseal', 'addUser', 'removeUser', 'callbackUpdate', 'refreshKey']);

/** Plain-JSON view of an RPC result: bytes → base64, bigint → decimal string. */
export function toJsonSafe(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(toJsonSafe);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJsonSafe(x)]));
  return v;
}

/** The log sink's counters plus a note an operator can act on while writes fail. */
function logStatus(s: LogStats): LogStats & { note?: string } {
  if (!s.failing && s.auditBuffered === 0) return s;
  return { ...s, note: `log writes are failing (${s.lastError ?? 'error'}): ${s.dropped} records lost, ${s.auditBuffered} audit records held in memory, ${s.auditDropped} audit records lost; free space under the log directory` };
}

export interface ControlHandlerDeps {
  readonly config: DaemonConfig;
  readonly supervisor: Supervisor;
  readonly link: EnclaveLink;
  readonly queue: BoundedQueue;
  readonly logger: pino.Logger;
  /** The log sink's write failures and held audit records (shown by `cosigner status`). */
  logStats?(): LogStats;
  /** The file store's backups (absent when the daemon runs on another store, e.g. in tests). */
  readonly backups?: FileBlobStore;
  /** The relay's egress allow-list, for `checkEgress`. */
  readonly egress?: { allows(host: string, port: number): boolean; readonly path: string };
  /** The enclave's last status, refreshed now (null when it does not answer). */
  refreshEnclaveStatus(): Promise<Record<string, unknown> | null>;
  /** The lease (lease-runner.ts), when one is configured: a standby runs no enclave. */
  readonly lease?: LeaseControl;
}

/** What the control handler needs of the lease runner. */
export interface LeaseControl {
  status(): object;
  requestStart(): void;
  requestStop(): void;
  assertActive(): void;
}

/** The control server's request handler. */
export function createControlHandler(deps: ControlHandlerDeps): (req: ControlRequest) => Promise<unknown> {
  const { config, supervisor, link, queue, logger } = deps;
  const status = async (): Promise<unknown> => ({
    daemon: { version: VERSION, pid: process.pid, mode: config.mode, home: config.home, queueDepth: queue.depth, queueLimit: config.queueLimit },
    supervisor: supervisor.status(),
    // Without a lease this is the only instance, always active.
    lease: deps.lease ? deps.lease.status() : { role: 'active', configured: false },
    wire: link.status(),
    ...(deps.logStats ? { log: logStatus(deps.logStats()) } : {}),
    enclave: await deps.refreshEnclaveStatus(),
  });

  const backupStore = (): FileBlobStore => {
    if (!deps.backups) throw new CosignerError('ERR_NOT_IMPLEMENTED', 'this daemon keeps no backups (it does not run on the file store)');
    return deps.backups;
  };

  return async (req: ControlRequest): Promise<unknown> => {
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
        deps.lease?.requestStart();
        await supervisor.start();
        return supervisor.status();
      case 'stop':
        logger.info('control: stop');
        deps.lease?.requestStop();
        // The enclave first (SIGTERM in local mode): it closes its sessions and sends its last log
        // and audit records over the wire while that is still open. Closing the link first sent
        // GoAway, which refuses those records, and then waited the whole 5 s close grace for the
        // coordinator relay stream, which never ends by itself.
        await supervisor.stop();
        await link.disconnect();
        return supervisor.status();
      case 'restart':
        logger.info('control: restart');
        deps.lease?.assertActive();
        // As for stop; the link redials on its own when the new enclave reports started.
        await supervisor.restart();
        return supervisor.status();
      case 'checkEgress':
        return { allowed: deps.egress?.allows(String(req.params.host), Number(req.params.port)) ?? false, allowListPath: deps.egress?.path ?? config.allowListPath };
      case 'listBackups':
        return { backups: await listGenerations(backupStore()) };
      case 'restoreBackup': {
        const name = String(req.params.name);
        const generation = BigInt(String(req.params.generation));
        // One at a time with start/stop (the queue), so the enclave cannot start mid-restore.
        return queue.run(async () => {
          const r = await restoreGeneration(backupStore(), name, generation, supervisor.status().state === 'stopped');
          logger.warn({ name, generation: generation.toString(), storeGeneration: r.storeGeneration }, 'control: restored a backup');
          return { name, restored: generation.toString(), ...r };
        });
      }
      case 'upgrade':
        deps.lease?.assertActive();
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
}
