// Runs in the enclave. What SIGTERM/SIGINT do (local mode: the parent daemon's `cosigner stop` and
// `restart`; a Nitro Enclave is terminated by nitro-cli instead): close the co-signer (sessions, the
// coordinator link), flush the last log and audit records over the wire, then exit 0 — bounded, so
// a stop never waits for nothing. The wire's graceful close waits (up to its 5 s grace) for relayed
// connections still open; the co-signer's shutdown closes its own (KMS tunnels, the coordinator
// link), so the bound only matters when something else holds one.

/** Longest a stop waits for the close before exiting anyway (the log flush alone is bounded to 1 s). */
export const STOP_BOUND_MS = 1500;

/** Installs the SIGTERM/SIGINT handlers; `exit` is a test seam. */
export function stopOnSignals(enclave: { close(): Promise<void> }, o: { boundMs?: number; exit?: (code: number) => void } = {}): void {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // exit 0 either way: the parent reads a non-zero exit as a crash and restarts the enclave.
    const bound = new Promise<void>((r) => setTimeout(r, o.boundMs ?? STOP_BOUND_MS).unref());
    void Promise.race([enclave.close().catch(() => undefined), bound]).then(() => exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
