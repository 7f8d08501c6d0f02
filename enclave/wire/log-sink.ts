// Runs in the enclave. Log lines go to the parent as batched `Parent/Log` calls, never to a file in
// the enclave. The queue is bounded: when the parent is slow or gone, the oldest lines are dropped
// and the count travels with the next batch, so logging can never exhaust enclave memory.
import type { LogSink } from '../../proto/ports.ts';
import type { Peer } from '../../proto/runtime/peer.ts';
import { typedClient, type ServiceClient } from '../../proto/runtime/typed-service.ts';

/** Limits of the enclave log queue. */
export interface WireLogSinkOptions {
  /** Lines held while waiting for the parent. Default 2048. */
  maxQueuedLines?: number;
  /** Longest line kept (longer ones are cut). Default 16 KiB. */
  maxLineBytes?: number;
  /** Lines per Log call. Default 256. */
  maxBatchLines?: number;
}

/** A LogSink that forwards to the parent over the wire. Usable as a pino destination (`write`). */
export class WireLogSink implements LogSink {
  private queue: string[] = [];
  private dropped = 0;
  private inFlight: Promise<void> | null = null;
  private readonly maxQueued: number;
  private readonly maxLine: number;
  private readonly maxBatch: number;
  private readonly parent: Pick<ServiceClient<'cosigner.v1.Parent'>, 'Log'>;

  constructor(peer: Peer, opts: WireLogSinkOptions = {}) {
    this.maxQueued = opts.maxQueuedLines ?? 2048;
    this.maxLine = opts.maxLineBytes ?? 16 * 1024;
    this.maxBatch = opts.maxBatchLines ?? 256;
    this.parent = typedClient(peer, 'cosigner.v1.Parent');
  }

  /** Lines dropped so far and not yet reported to the parent. */
  get droppedLines(): number {
    return this.dropped;
  }

  write(line: string): void {
    const l = line.endsWith('\n') ? line.slice(0, -1) : line;
    this.queue.push(l.length > this.maxLine ? l.slice(0, this.maxLine) : l);
    if (this.queue.length > this.maxQueued) {
      this.queue.shift();
      this.dropped++;
    }
    if (!this.inFlight) this.inFlight = this.pump();
  }

  /** Resolves once everything queued so far was sent (or dropped). */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  private async pump(): Promise<void> {
    // Yield once so a burst of writes travels in one batch.
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const lines = this.queue.splice(0, this.maxBatch);
        const dropped = this.dropped;
        this.dropped = 0;
        try {
          await this.parent.Log({ lines, dropped }, { deadlineMs: 10_000 });
        } catch {
          // The parent is unreachable: these lines are lost; count them so the parent learns of it.
          this.dropped += dropped + lines.length;
          if (this.queue.length === 0) break;
        }
      }
    } finally {
      this.inFlight = null;
    }
  }
}
