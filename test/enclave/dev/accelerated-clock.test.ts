import { describe, expect, it } from 'vitest';
import { acceleratedClock } from '../../../enclave/dev/accelerated-clock.ts';
import type { Clock } from '../../../proto/ports.ts';

describe('acceleratedClock', () => {
  it('scales sleeps down and elapsed time up, consistently', async () => {
    let now = 1000;
    const slept: number[] = [];
    const base: Clock = { now: () => now, sleep: async (ms) => { slept.push(ms); now += ms; } };
    const fast = acceleratedClock(base, 100);
    await fast.sleep(30_000);
    expect(slept).toEqual([300]);
    expect(fast.now() - 1000).toBe(30_000);
    expect(acceleratedClock(base, 1)).toBe(base);
    expect(() => acceleratedClock(base, 0.5)).toThrow();
    expect(() => acceleratedClock(base, Number.NaN)).toThrow();
  });
});
