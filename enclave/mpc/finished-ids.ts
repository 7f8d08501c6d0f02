// Runs in the enclave. The session ids a signing registry has finished, remembered so that a reused
// id is refused (ERR_SESSION_ABORTED / ERR_NONCE_REUSE) instead of opening fresh nonces under it.
// Bounded: beyond `max` ids the oldest is forgotten. Shared by the FROST (sessions.ts) and threshold
// ECDSA (ecdsa/host/sessions.ts) registries so both keep the same rule.

export class FinishedIds {
  private readonly ids = new Set<string>();

  constructor(private readonly max: number) {}

  has(sessionId: string): boolean {
    return this.ids.has(sessionId);
  }

  add(sessionId: string): void {
    this.ids.add(sessionId);
    while (this.ids.size > this.max) {
      const first = this.ids.values().next();
      if (first.done) break;
      this.ids.delete(first.value);
    }
  }
}
