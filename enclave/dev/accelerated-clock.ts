// Runs in the enclave, local mode only. A clock on which time runs `factor` times faster than the
// real one, handed to the Callback Handler client so the demo and the end-to-end tests can exercise
// the real RETRY schedule (whose interval may not be below 30 s) in a fraction of a second. The
// schedule logic is unchanged; only its waits are shorter. A production build refuses the flag.
import type { Clock } from '../../proto/ports.ts';

/** `base` sped up by `factor` (1 = unchanged). */
export function acceleratedClock(base: Clock, factor: number): Clock {
  if (!(Number.isFinite(factor) && factor >= 1)) throw new RangeError('clock speed-up must be >= 1');
  if (factor === 1) return base;
  const origin = base.now();
  return {
    now: () => origin + (base.now() - origin) * factor,
    sleep: (ms, signal) => base.sleep(Math.ceil(ms / factor), signal),
  };
}
