// Runs on the parent. Puts the lease (storage/lease.ts) in charge of the enclave: the daemon starts
// as a standby and starts the enclave only once it holds the lease; it renews in the background;
// the moment it loses the lease, or its acting window closes without a successful renewal, it stops
// the enclave (fail closed) and goes back to standby. The enclave's blob writes are refused outside
// the window too (guardBlobs), so even an enclave still shutting down cannot commit a generation.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import type pino from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import type { BlobStore, CredentialSource } from '../../proto/ports.ts';
import type { LeaseConfig } from '../config/config.ts';
import type { CosignerMetrics } from '../metrics/cosigner-metrics.ts';
import type { ConditionalObjects } from '../storage/conditional-objects.ts';
import { Lease, type LeaseStatus } from '../storage/lease.ts';
import { systemClock } from '../../proto/ports.ts';
import { S3ConditionalObjects } from '../storage/s3-conditional-objects.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { EnclaveLink } from './enclave-link.ts';

/**
 * The lease object's store: S3 with the instance role's credentials (the same source as the blob
 * store: without it the SDK's default chain would look for IMDS at 169.254.169.254, which in local
 * mode is not the stand-in), unless a test passes one.
 */
export function leaseStore(c: LeaseConfig, override?: ConditionalObjects, credentials?: CredentialSource): ConditionalObjects {
  if (override) return override;
  const client = new S3Client({
    ...(c.region ? { region: c.region } : {}),
    ...(c.endpoint ? { endpoint: c.endpoint, forcePathStyle: true } : {}),
    // Plain signed bodies, as the blob store sends (s3-blob-store.ts createS3Client).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(credentials
      ? {
          credentials: async () => {
            const k = await credentials.get();
            return { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, ...(k.sessionToken ? { sessionToken: k.sessionToken } : {}), ...(k.expiration ? { expiration: k.expiration } : {}) };
          },
        }
      : {}),
    // A hung call must not outlast the acting window's margin by much: the window closes regardless.
    requestHandler: { requestTimeout: Math.ceil(c.ttlMs / 5), connectionTimeout: Math.ceil(c.ttlMs / 5) },
  });
  return new S3ConditionalObjects({ client, bucket: c.bucket });
}

/** The lease of `config.lease` (null without one: the daemon is always active). */
export function createLease(c: LeaseConfig | undefined, store?: ConditionalObjects, credentials?: CredentialSource): Lease | null {
  return c ? new Lease({ store: leaseStore(c, store, credentials), key: c.objectKey, holder: holderId(), clock: systemClock, ttlMs: c.ttlMs }) : null;
}

/** This daemon process's holder id: the host for people, a random part so two processes never share one. */
function holderId(): string {
  return `${hostname().slice(0, 64)}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/** Refuse every blob write while this instance may not act (reads stay allowed: they change nothing). */
export function guardBlobs(blobs: BlobStore, lease: Lease): BlobStore {
  return {
    get: (name) => blobs.get(name),
    put: (name, data, expected) => {
      if (!lease.canAct()) return Promise.reject(new CosignerError('ERR_STATE', 'this instance does not hold the lease (standby): blob writes are refused'));
      return blobs.put(name, data, expected);
    },
  };
}

export class LeaseRunner {
  readonly #lease: Lease;
  readonly #supervisor: Supervisor;
  readonly #link: EnclaveLink;
  readonly #metrics: CosignerMetrics;
  readonly #logger: pino.Logger;
  /** The operator's intent (start/stop; the daemon's startEnclave): the enclave runs when active and wanted. */
  #wanted: boolean;
  #active = false;
  #closed = false;
  #tick: NodeJS.Timeout | null = null;
  #deadline: NodeJS.Timeout | null = null;
  #lastError: { code: string; message: string } | null = null;

  constructor(o: { lease: Lease; supervisor: Supervisor; link: EnclaveLink; metrics: CosignerMetrics; logger: pino.Logger; wanted: boolean }) {
    this.#lease = o.lease;
    this.#supervisor = o.supervisor;
    this.#link = o.link;
    this.#metrics = o.metrics;
    this.#logger = o.logger;
    this.#wanted = o.wanted;
    this.#metrics.leaseActive.set(0);
    // Whatever started the enclave (a queued start, a backoff relaunch), it may not run without the lease.
    this.#supervisor.on('started', () => {
      if (!this.#lease.canAct()) void this.#standDown('enclave started without the lease');
    });
  }

  get active(): boolean {
    return this.#active && this.#lease.canAct();
  }

  /** First step now, then every TTL/3. */
  start(): void {
    void this.#step();
  }

  /** `cosigner start`: remembered, and refused while standby (the enclave starts on takeover). */
  requestStart(): void {
    this.#wanted = true;
    if (!this.active) {
      const st = this.#lease.status();
      throw new CosignerError('ERR_STATE', `this instance is a standby${st.holder ? ` (${st.holder} holds the lease until ${st.expiresAt ?? '?'})` : ''}: the enclave starts when it takes over the lease`, { details: { role: 'standby' } });
    }
  }

  /** `cosigner stop`: the enclave stays stopped, also across a later takeover. */
  requestStop(): void {
    this.#wanted = false;
  }

  /** restart / upgrade: only the active instance may run an enclave. */
  assertActive(): void {
    if (!this.active) throw new CosignerError('ERR_STATE', 'this instance is a standby: it runs no enclave until it takes over the lease', { details: { role: 'standby' } });
  }

  status(): LeaseStatus & { configured: true; lastError: { code: string; message: string } | null } {
    return { configured: true, ...this.#lease.status(), lastError: this.#lastError };
  }

  async #step(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#lease.tick();
      this.#lastError = null;
    } catch (err) {
      const e = toCosignerError(err, 'ERR_STORAGE');
      this.#lastError = { code: e.code, message: e.message };
      this.#logger.warn({ code: e.code, err: e.message }, 'lease step failed; retrying');
    }
    if (this.#closed) return;
    if (this.#lease.canAct() && !this.#active) await this.#takeOver();
    else if (!this.#lease.canAct() && this.#active) await this.#standDown('lease lost');
    this.#armDeadline();
    this.#tick = setTimeout(() => void this.#step(), this.#lease.renewEveryMs);
    this.#tick.unref();
  }

  /** A timer at the end of the acting window: a renewal that hangs cannot keep the enclave running. */
  #armDeadline(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = null;
    const until = this.#lease.actUntil();
    if (until === null) return;
    this.#deadline = setTimeout(() => {
      if (!this.#lease.canAct() && this.#active) void this.#standDown('lease window closed without a renewal');
    }, Math.max(0, until - Date.now()) + 1);
    this.#deadline.unref();
  }

  async #takeOver(): Promise<void> {
    this.#active = true;
    this.#metrics.leaseActive.set(1);
    const st = this.#lease.status();
    this.#logger.warn({ holder: st.self, epoch: st.epoch, key: st.key }, 'lease acquired: this instance is active');
    if (!this.#wanted) return;
    await this.#supervisor.start().catch((err: unknown) => {
      const e = toCosignerError(err);
      this.#logger.error({ code: e.code, err: e.message }, 'enclave did not start; retrying with backoff');
    });
  }

  async #standDown(why: string): Promise<void> {
    const wasActive = this.#active;
    this.#active = false;
    this.#lease.drop();
    this.#metrics.leaseActive.set(0);
    if (wasActive) this.#logger.error({ why }, 'lease lost: stopping the enclave, this instance is a standby');
    await this.#supervisor.stop().catch((err: unknown) => this.#logger.error({ err: toCosignerError(err).message }, 'stopping the enclave after losing the lease failed'));
    await this.#link.disconnect();
  }

  /** Stop stepping (before the daemon stops the enclave, so no takeover starts it again). */
  halt(): void {
    this.#closed = true;
    if (this.#tick) clearTimeout(this.#tick);
    if (this.#deadline) clearTimeout(this.#deadline);
  }

  /**
   * Daemon shutdown: stop stepping (so no takeover starts the enclave again), stop the enclave, then
   * release the lease so a standby takes over without waiting out the TTL.
   */
  async close(): Promise<void> {
    this.halt();
    await this.#supervisor.stop().catch(() => undefined);
    await this.#link.disconnect();
    this.#active = false;
    this.#metrics.leaseActive.set(0);
    await this.#lease.release().catch((err: unknown) => this.#logger.warn({ err: toCosignerError(err).message }, 'lease release failed; it lapses after its TTL'));
  }
}
