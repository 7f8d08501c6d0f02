// Runs on the parent. A bounded work queue: at most `concurrency` jobs run, at most `limit` jobs are
// admitted (running + waiting); past that a job is refused at once with ERR_BUSY instead of piling up
// in memory or timing out later.
import { CosignerError } from '../../proto/errors.ts';

export class BoundedQueue {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly limit: number,
    readonly concurrency: number,
    private readonly onDepth: (depth: number) => void = () => undefined,
  ) {}

  /** Jobs admitted and not finished. */
  get depth(): number {
    return this.#running + this.#waiting.length;
  }

  /** Run `job` when a slot is free; throws ERR_BUSY when the queue is full. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.depth >= this.limit) {
      throw new CosignerError('ERR_BUSY', `the daemon is busy (${this.depth} requests queued, limit ${this.limit}); retry shortly`);
    }
    if (this.#running >= this.concurrency) {
      await new Promise<void>((res) => {
        this.#waiting.push(res);
        this.onDepth(this.depth);
      });
    } else {
      this.#running += 1;
      this.onDepth(this.depth);
    }
    try {
      return await job();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // hand the slot over: #running stays the same
      else this.#running -= 1;
      this.onDepth(this.depth);
    }
  }
}
