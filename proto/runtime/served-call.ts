// Both sides. State of one call this side is serving. The AbortSignal and its deadline timer are
// created only when the handler first reads `ctx.signal`: most handlers finish quickly without
// looking, and an AbortController plus a timer per call is a measurable part of a round trip.
import { CosignerError } from '../errors.ts';

/** One call being served: cancellation, deadline and the lazily created signal. */
export class ServedCall {
  private ac: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private abortReason: unknown = undefined;
  private isAborted = false;
  private readonly deadlineAt: number;

  constructor(
    private readonly method: string,
    deadlineMs: number,
  ) {
    this.deadlineAt = Date.now() + deadlineMs;
  }

  /** The handler's signal: aborts on cancel, deadline or connection loss. */
  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController();
      if (this.isAborted) this.ac.abort(this.abortReason);
      else {
        const left = Math.max(0, this.deadlineAt - Date.now());
        this.timer = setTimeout(() => this.abort(new CosignerError('ERR_DEADLINE_EXCEEDED', `${this.method} deadline exceeded`)), left);
      }
    }
    return this.ac.signal;
  }

  get aborted(): boolean {
    return this.isAborted || Date.now() > this.deadlineAt;
  }

  get reason(): unknown {
    if (this.isAborted) return this.abortReason;
    return Date.now() > this.deadlineAt ? new CosignerError('ERR_DEADLINE_EXCEEDED', `${this.method} deadline exceeded`) : undefined;
  }

  /** True when the caller cancelled: no response is wanted. */
  get cancelled(): boolean {
    return this.isAborted && (this.abortReason as CosignerError | undefined)?.code === 'ERR_CANCELLED';
  }

  abort(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ac?.abort(reason);
  }

  /** The handler finished: release the timer. */
  done(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
