// Runs in the enclave. Reconnect schedule of the coordinator client: exponential with full jitter,
// capped, so a down coordinator costs a bounded, small amount of work.

export interface BackoffOptions {
  /** First delay in ms (default 250). */
  readonly initialMs?: number;
  /** Largest delay in ms (default 30 000). */
  readonly maxMs?: number;
}

/** The delay before reconnect attempt `attempt` (0-based), given a random number in [0, 1). */
export function backoffDelay(attempt: number, random: number, o: BackoffOptions = {}): number {
  const initial = o.initialMs ?? 250;
  const max = o.maxMs ?? 30_000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  // Full jitter, but never less than half the ceiling: reconnect storms spread out, yet a restarted
  // coordinator is not hammered by clients that drew 0.
  return Math.round(ceiling / 2 + (ceiling / 2) * Math.min(Math.max(random, 0), 1));
}
