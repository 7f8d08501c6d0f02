// Both sides. One call this side made, waiting for its response.
import type protobuf from 'protobufjs';
import { CosignerError } from '../errors.ts';

/** What an outgoing call needs from its connection. */
export interface CallOwner {
  /** The call gave up (cancel or deadline) or failed: forget it; `notifyRemote` = send cancel. */
  abandonCall(id: number, notifyRemote: boolean): void;
}

/**
 * One call this side made. A class rather than closures: a round trip creates one object, which
 * keeps the per-call cost (allocation, GC) small. Its deadline is watched by the connection's single
 * deadline timer (RpcPeer.watchDeadline), not a timer per call: arming and clearing a timer was a
 * measurable part of every round trip.
 */
export class OutgoingCall {
  readonly promise: Promise<unknown>;
  /** Date.now() at which the call fails with ERR_DEADLINE_EXCEEDED. */
  readonly deadlineAt: number;
  private resolveFn!: (v: unknown) => void;
  private rejectFn!: (e: CosignerError) => void;
  private settled = false;

  constructor(
    private readonly owner: CallOwner,
    private readonly id: number,
    private readonly method: string,
    readonly res: protobuf.Type,
    private readonly deadlineMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.promise = new Promise<unknown>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.deadlineAt = Date.now() + deadlineMs;
    signal?.addEventListener('abort', this, { once: true });
  }

  /** The deadline passed (called by the connection's deadline sweep). */
  expire(): void {
    this.fail(new CosignerError('ERR_DEADLINE_EXCEEDED', `${this.method}: no answer within ${this.deadlineMs} ms`), true);
  }

  /** AbortSignal listener (EventListenerObject). */
  handleEvent(): void {
    this.fail(new CosignerError('ERR_CANCELLED', `${this.method} cancelled`), true);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.signal?.removeEventListener('abort', this);
    return true;
  }

  resolve(v: unknown): void {
    if (this.finish()) this.resolveFn(v);
  }

  /** Settles with `e`; `giveUp` = this side abandons the call (tell the callee, free the id). */
  fail(e: CosignerError, giveUp: boolean): void {
    if (!this.finish()) return;
    this.owner.abandonCall(this.id, giveUp);
    this.rejectFn(e);
  }
}
