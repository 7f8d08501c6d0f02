import { describe, expect, it } from 'vitest';
import { SerialQueue } from '../../../enclave/services/serial-queue.ts';

describe('SerialQueue', () => {
  it('runs one at a time in order and refuses past its bound', async () => {
    const q = new SerialQueue(3);
    const order: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = q.run(async () => { await gate; order.push(1); });
    const b = q.run(async () => { order.push(2); });
    const c = q.run(async () => { order.push(3); });
    await expect(q.run(async () => order.push(4))).rejects.toMatchObject({ code: 'ERR_BUSY' });
    expect(q.depth).toBe(3);
    release();
    await Promise.all([a, b, c]);
    expect(order).toEqual([1, 2, 3]);
    expect(q.depth).toBe(0);
  });

  it('a failing operation does not block the next', async () => {
    const q = new SerialQueue(2);
    await expect(q.run(async () => { throw new Error('x'); })).rejects.toThrow('x');
    expect(await q.run(async () => 7)).toBe(7);
  });
});
