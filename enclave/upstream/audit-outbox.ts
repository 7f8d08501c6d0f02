// Runs in the enclave. The audit outbox: every decision the enclave makes (approvals, refusals,
// signed approval decisions) goes to the coordinator as an `audit.record` over the authenticated
// link, so the coordinator keeps a copy the parent cannot erase; the parent's log lines are only a
// convenience. Records wait in enclave memory (bounded; the oldest are dropped first and the count
// travels in the next record sent) while the link is down or the rollback floor is not yet
// accepted, go out in order, and leave the queue only once the coordinator replied (at-least-once;
// the coordinator de-duplicates by id). Recording never blocks or fails the decision it describes.
import { randomBytes } from 'node:crypto';
import { toCosignerError } from '../../proto/errors.ts';
import { parseAuditRecord, type AuditRecordBody } from '../../proto/coordinator/messages.ts';
import type { Clock } from '../../proto/ports.ts';

/** What a caller records: the outbox stamps `id`, `at` (when absent) and `dropped`. */
export type AuditEntry = Omit<AuditRecordBody, 'id' | 'at' | 'dropped'> & { readonly at?: number };

/** The narrow callback decision code is handed. */
export type AuditSink = (entry: AuditEntry) => void;

/** The authenticated link as the outbox needs it (PeerConnection fits). */
export interface AuditLink {
  request(type: string, body: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
}

export interface AuditOutboxOptions {
  readonly clock: Clock;
  /** The link when records may go out (connected, rollback floor accepted), else undefined. */
  readonly link: () => AuditLink | undefined;
  /** Records kept while they cannot be sent (default 1024). */
  readonly capacity?: number;
  /** First wait before resending after a failed send on a live link (default 1 s, doubling to 60 s). */
  readonly retryMs?: number;
  readonly requestTimeoutMs?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;
}

interface Queued {
  body: AuditRecordBody;
  /** Sent at least once: its body (and so its `dropped`) is fixed, a resend repeats it exactly. */
  attempted: boolean;
}

export const AUDIT_OUTBOX_CAPACITY = 1024;

export class AuditOutbox {
  private readonly queue: Queued[] = [];
  /** Records dropped and not yet reported in a sent record's `dropped`. */
  private pendingDropped = 0;
  private inflight: Queued | undefined;
  private pumping = false;
  private kicked = false;
  private failures = 0;
  private retry: AbortController | undefined;
  private seq = 0;
  /** Ids are unique per enclave run: a restart starts a new prefix, so ids never repeat. */
  private readonly runId = randomBytes(8).toString('hex');

  constructor(private readonly o: AuditOutboxOptions) {}

  /** Records waiting for the coordinator's reply (including one in flight). */
  get size(): number {
    return this.queue.length;
  }

  /** Queues one record and tries to send it. Never throws: a bad record is logged and dropped. */
  record(entry: AuditEntry): void {
    try {
      const body = parseAuditRecord({ ...entry, at: entry.at ?? this.o.clock.now(), id: `${this.runId}-${++this.seq}` });
      this.queue.push({ body, attempted: false });
      while (this.queue.length > (this.o.capacity ?? AUDIT_OUTBOX_CAPACITY)) this.evictOldest();
    } catch (err) {
      this.o.log?.('error', { code: toCosignerError(err).code, kind: String(entry.kind).slice(0, 64) }, 'audit record not queued');
      return;
    }
    this.kick();
  }

  /** Sends what is queued if the link allows it now (called on connect and floor acceptance). */
  kick(): void {
    this.kicked = true;
    if (this.pumping) return;
    void this.pump();
  }

  /** Cancels a pending resend (the client stopped); the queue stays, the next connect sends it. */
  pause(): void {
    this.retry?.abort();
  }

  /** Drops the oldest record, never the one in flight (its reply may still store it). */
  private evictOldest(): void {
    const i = this.queue[0] === this.inflight ? 1 : 0;
    const [gone] = this.queue.splice(i, 1);
    if (gone) this.pendingDropped += 1 + (gone.body.dropped ?? 0);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.kicked) {
        this.kicked = false;
        await this.drain();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Sends queued records in order until the queue is empty, the link is gone or a send fails. */
  private async drain(): Promise<void> {
    for (;;) {
      const link = this.o.link();
      const head = this.queue[0];
      if (!link || !head) return;
      if (!head.attempted) {
        head.attempted = true;
        if (this.pendingDropped > 0) {
          head.body = { ...head.body, dropped: this.pendingDropped };
          this.pendingDropped = 0;
        }
      }
      this.inflight = head;
      try {
        await link.request('audit.record', head.body, { timeoutMs: this.o.requestTimeoutMs ?? 10_000 });
      } catch (err) {
        this.inflight = undefined;
        const e = toCosignerError(err);
        if (e.code === 'ERR_INVALID_ARGUMENT') {
          // The coordinator will never take this record: do not let it hold back every later one.
          this.o.log?.('error', { code: e.code, kind: head.body.kind }, 'coordinator refused an audit record');
          this.remove(head);
          this.pendingDropped += 1 + (head.body.dropped ?? 0);
          continue;
        }
        this.o.log?.('warn', { code: e.code, queued: this.queue.length }, 'audit record not delivered yet');
        this.scheduleRetry();
        return;
      }
      this.inflight = undefined;
      this.failures = 0;
      this.remove(head);
    }
  }

  private remove(q: Queued): void {
    const i = this.queue.indexOf(q);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** After a failure on a live link, try again later (a reconnect kicks sooner). */
  private scheduleRetry(): void {
    this.retry?.abort();
    const ac = new AbortController();
    this.retry = ac;
    const wait = Math.min(60_000, (this.o.retryMs ?? 1000) * 2 ** Math.min(this.failures++, 6));
    this.o.clock.sleep(wait, ac.signal).then(
      () => this.kick(),
      () => undefined,
    );
  }
}
