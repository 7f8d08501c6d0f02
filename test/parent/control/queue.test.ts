import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../../../parent/control/queue.ts';

describe('BoundedQueue', () => {
  it('runs at most `concurrency` jobs and refuses past `limit` with ERR_BUSY', async () => {
    const depths: number[] = [];
    const q = new BoundedQueue(3, 1, (d) => depths.push(d));
    let running = 0;
    let maxRunning = 0;
    const gates: Array<() => void> = [];
    const job = (): Promise<number> =>
      q.run(async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return 1;
      });
    const jobs = [job(), job(), job()];
    await expect(job()).rejects.toMatchObject({ code: 'ERR_BUSY', retryable: true });
    expect(q.depth).toBe(3);
    while (gates.length || q.depth) {
      gates.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await Promise.all(jobs)).toEqual([1, 1, 1]);
    expect(maxRunning).toBe(1);
    expect(q.depth).toBe(0);
    expect(Math.max(...depths)).toBe(3);
    expect(depths.at(-1)).toBe(0);
  });

  it('frees the slot when a job throws', async () => {
    const q = new BoundedQueue(1, 1);
    await expect(q.run(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await q.run(async () => 2)).toBe(2);
  });
});
