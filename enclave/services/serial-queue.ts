// Runs in the enclave. Runs operator mutations (setup, add-user, remove-user, ...) one at a time with
// a bounded number waiting: past the bound the caller gets ERR_BUSY at once instead of a growing queue.
import { CosignerError } from '../../proto/errors.ts';

/** A FIFO mutex whose waiting list is bounded. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly maxWaiting: number) {}

  /** Number of operations queued or running. */
  get depth(): number {
    return this.waiting;
  }

  /** Run `fn` after every earlier operation settled. Throws ERR_BUSY when too many are waiting. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.maxWaiting) {
      throw new CosignerError('ERR_BUSY', `another operator request is running and ${this.waiting - 1} are waiting: try again shortly`);
    }
    this.waiting++;
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    try {
      await prev;
      return await fn();
    } finally {
      this.waiting--;
      release();
    }
  }
}
