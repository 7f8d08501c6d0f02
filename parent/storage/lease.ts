// Runs on the parent. One active signer among instances pointed at the same bucket: a lease object
// written only with conditional writes (conditional-objects.ts). The holder renews it every TTL/3 and
// acts only while its own clock is before (start of its last successful renewal + TTL − margin); a
// standby replaces the object only after it has seen the very same version (etag) unchanged for a
// whole TTL on its own clock. Both rules measure durations on one machine's clock each, so clock
// offset between instances does not matter, only drift within the margin. The compare-and-swap on
// the etag decides every race: of two standbys taking over at once one write lands, the other gets
// 'changed'; a partitioned old holder's renewal carries an etag that no longer matches.
// The lease keeps two parents from running enclaves at once; which sealed generation is current is
// still the coordinator's rollback floor's decision (docs/operations.md, "One active signer").
import { CosignerError } from '../../proto/errors.ts';
import type { Clock } from '../../proto/ports.ts';
import type { ConditionalObjects } from './conditional-objects.ts';

/** Bounds of the lease TTL: short enough to fail over quickly, long enough to ride out a slow S3 call. */
export const LEASE_TTL_MIN_MS = 3_000;
export const LEASE_TTL_MAX_MS = 300_000;
export const LEASE_TTL_DEFAULT_MS = 30_000;
/** Largest lease object read: anything bigger is not ours. */
const MAX_LEASE_BYTES = 4096;

/** The lease object's content (JSON). `expiresAt` is the holder's clock, for people reading `status`. */
export interface LeaseRecord {
  readonly v: 1;
  readonly holder: string;
  readonly epoch: number;
  readonly expiresAt: number;
  readonly ttlMs: number;
  /** Written by a holder that stopped cleanly: a standby may take over at once. */
  readonly released: boolean;
}

/** What `cosigner status` shows. */
export interface LeaseStatus {
  readonly role: 'active' | 'standby';
  /** This instance's holder id. */
  readonly self: string;
  readonly key: string;
  /** Current holder as last read (null: no lease object, or released). */
  readonly holder: string | null;
  readonly epoch: number | null;
  /** The holder's stated expiry (its clock), ISO. */
  readonly expiresAt: string | null;
}

export interface LeaseOptions {
  readonly store: ConditionalObjects;
  readonly key: string;
  /** Unique per daemon process: two processes must never share it. */
  readonly holder: string;
  readonly clock: Pick<Clock, 'now'>;
  readonly ttlMs?: number;
}

/** Parse a lease object; null when it is not a well-formed lease (treated as someone else's, epoch 0). */
export function parseLeaseRecord(body: Uint8Array): LeaseRecord | null {
  if (body.length > MAX_LEASE_BYTES) return null;
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return null;
  }
  const r = j as Partial<LeaseRecord> | null;
  if (!r || typeof r !== 'object' || r.v !== 1) return null;
  if (typeof r.holder !== 'string' || r.holder.length === 0 || r.holder.length > 256) return null;
  if (!Number.isSafeInteger(r.epoch) || (r.epoch as number) < 0) return null;
  if (!Number.isSafeInteger(r.expiresAt)) return null;
  if (!Number.isSafeInteger(r.ttlMs) || (r.ttlMs as number) < LEASE_TTL_MIN_MS || (r.ttlMs as number) > LEASE_TTL_MAX_MS) return null;
  if (typeof r.released !== 'boolean') return null;
  return { v: 1, holder: r.holder, epoch: r.epoch as number, expiresAt: r.expiresAt as number, ttlMs: r.ttlMs as number, released: r.released };
}

function encode(r: LeaseRecord): Uint8Array {
  return Buffer.from(JSON.stringify(r));
}

interface Held {
  etag: string;
  epoch: number;
  expiresAt: number;
  /** Local time until which this instance may act. */
  actUntil: number;
}

export class Lease {
  readonly #store: ConditionalObjects;
  readonly #key: string;
  readonly #holder: string;
  readonly #clock: Pick<Clock, 'now'>;
  readonly ttlMs: number;
  /** Stop acting this long before the TTL runs out: covers clock drift and the renewal's own latency. */
  readonly marginMs: number;
  readonly renewEveryMs: number;
  #held: Held | null = null;
  /** The other holder's lease version as first seen, and when (local clock, after the read returned). */
  #seen: { etag: string; since: number; record: LeaseRecord | null } | null = null;

  constructor(o: LeaseOptions) {
    const ttl = o.ttlMs ?? LEASE_TTL_DEFAULT_MS;
    if (!Number.isSafeInteger(ttl) || ttl < LEASE_TTL_MIN_MS || ttl > LEASE_TTL_MAX_MS) {
      throw new CosignerError('ERR_CONFIG_INVALID', `lease TTL must be ${LEASE_TTL_MIN_MS}..${LEASE_TTL_MAX_MS} ms`);
    }
    if (o.holder.length === 0 || o.holder.length > 256) throw new CosignerError('ERR_CONFIG_INVALID', 'lease holder id must be 1..256 characters');
    this.#store = o.store;
    this.#key = o.key;
    this.#holder = o.holder;
    this.#clock = o.clock;
    this.ttlMs = ttl;
    this.marginMs = Math.ceil(ttl / 5);
    this.renewEveryMs = Math.floor(ttl / 3);
  }

  get holder(): string {
    return this.#holder;
  }

  /** May this instance act (run the enclave) right now? False from the moment its window closes. */
  canAct(): boolean {
    return this.#held !== null && this.#clock.now() < this.#held.actUntil;
  }

  /** Local time at which the acting window closes (null when not holding). */
  actUntil(): number | null {
    return this.#held?.actUntil ?? null;
  }

  /**
   * One step: renew when holding, else try to acquire. Returns whether this instance may act now.
   * Store errors propagate (the caller retries on its schedule; the window closes on time regardless).
   */
  async tick(): Promise<boolean> {
    if (this.#held) {
      if ((await this.renew()) === 'renewed') return this.canAct();
      return false;
    }
    return this.acquire();
  }

  /** Try to become the holder: create the object, or replace a released or lapsed one (epoch + 1). */
  async acquire(): Promise<boolean> {
    if (this.#held) return this.canAct();
    const cur = await this.#store.get(this.#key);
    const readAt = this.#clock.now();
    if (!cur) {
      const start = this.#clock.now();
      const etag = await this.#store.putIfAbsent(this.#key, encode(this.#record(1, start)));
      if (etag === 'exists') return false;
      this.#take(etag, 1, start);
      return true;
    }
    const rec = parseLeaseRecord(cur.body);
    if (this.#seen?.etag !== cur.etag) this.#seen = { etag: cur.etag, since: readAt, record: rec };
    // The longer of both TTLs: a holder configured with a longer one keeps acting that long.
    const wait = Math.max(this.ttlMs, rec?.ttlMs ?? 0);
    const lapsed = rec?.released === true || readAt - this.#seen.since >= wait;
    if (!lapsed) return false;
    const epoch = (rec?.epoch ?? 0) + 1;
    const start = this.#clock.now();
    const etag = await this.#store.putIfMatch(this.#key, encode(this.#record(epoch, start)), cur.etag);
    if (etag === 'changed') return false;
    this.#take(etag, epoch, start);
    return true;
  }

  /** Extend the lease. 'lost' when someone else wrote the object: stop acting at once. */
  async renew(): Promise<'renewed' | 'lost'> {
    const held = this.#held;
    if (!held) return 'lost';
    const start = this.#clock.now();
    let etag = await this.#store.putIfMatch(this.#key, encode(this.#record(held.epoch, start)), held.etag);
    if (etag === 'changed') {
      // A renewal whose answer was lost may have landed: the object then still names this process
      // and epoch (no one else writes our holder id), so its etag is ours to continue from.
      const cur = await this.#store.get(this.#key);
      const rec = cur ? parseLeaseRecord(cur.body) : null;
      if (cur && rec && rec.holder === this.#holder && rec.epoch === held.epoch && !rec.released && this.#held === held) {
        etag = await this.#store.putIfMatch(this.#key, encode(this.#record(held.epoch, start)), cur.etag);
      } else if (cur) {
        // Someone else's lease now: observed from here on, as a standby would (status shows it).
        this.#seen = { etag: cur.etag, since: this.#clock.now(), record: rec };
      }
    }
    if (etag === 'changed' || this.#held !== held) {
      if (this.#held === held) this.#held = null;
      return 'lost';
    }
    this.#take(etag, held.epoch, start);
    return 'renewed';
  }

  /** Stop acting now and mark the object released, so a standby need not wait out the TTL. */
  async release(): Promise<void> {
    const held = this.#held;
    this.#held = null;
    if (!held) return;
    const now = this.#clock.now();
    await this.#store.putIfMatch(this.#key, encode({ ...this.#record(held.epoch, now), expiresAt: now, released: true }), held.etag);
  }

  /** Forget the lease without writing (the caller decided to stop acting, e.g. its window closed). */
  drop(): void {
    this.#held = null;
  }

  status(): LeaseStatus {
    const base = { self: this.#holder, key: this.#key };
    if (this.#held && this.canAct()) {
      return { ...base, role: 'active', holder: this.#holder, epoch: this.#held.epoch, expiresAt: new Date(this.#held.expiresAt).toISOString() };
    }
    const r = this.#seen?.record;
    if (!r || r.released) return { ...base, role: 'standby', holder: null, epoch: r?.epoch ?? null, expiresAt: null };
    return { ...base, role: 'standby', holder: r.holder, epoch: r.epoch, expiresAt: new Date(r.expiresAt).toISOString() };
  }

  #record(epoch: number, start: number): LeaseRecord {
    return { v: 1, holder: this.#holder, epoch, expiresAt: start + this.ttlMs, ttlMs: this.ttlMs, released: false };
  }

  #take(etag: string, epoch: number, start: number): void {
    // Measured from before the write was sent: the window can only close early, never late.
    this.#held = { etag, epoch, expiresAt: start + this.ttlMs, actUntil: start + this.ttlMs - this.marginMs };
    this.#seen = null;
  }
}
