// Runs in the enclave and in the reference coordinator. The pairwise OT setups one party runs with
// every peer at key generation and refresh (ot-api.ts PairwiseSetupParty), side by side: exchange
// k with every peer happens in the same protocol round, so n parties need `exchanges` + 1 rounds
// in total for all of them, whatever n is.
import { CosignerError } from '../../../proto/errors.ts';
import { outOfOrder } from './common.ts';
import type { OtLayer, PairwiseSetupParty, Rng } from './ot-api.ts';

export class PairwiseSetups {
  private readonly parties = new Map<number, PairwiseSetupParty>();
  private sent = 0;
  readonly exchanges: number;

  constructor(ot: OtLayer, transcript: Uint8Array, self: number, peers: readonly number[], rng: Rng | undefined) {
    try {
      for (const peer of peers) this.parties.set(peer, ot.pairwiseSetup({ transcript, self, peer, ...(rng ? { rng } : {}) }));
    } catch (err) {
      this.abort();
      throw err;
    }
    const counts = new Set([...this.parties.values()].map((p) => p.exchanges));
    const exchanges = [...counts][0];
    if (counts.size !== 1 || exchanges === undefined || !Number.isInteger(exchanges) || exchanges < 1 || exchanges > 8) {
      this.abort();
      throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'the OT layer reports an unusable exchange count');
    }
    this.exchanges = exchanges;
  }

  /** Exchange 1: this side's first message to every peer. */
  first(): Map<number, Uint8Array> {
    if (this.sent !== 0) throw outOfOrder();
    this.sent = 1;
    return new Map([...this.parties].map(([peer, p]) => [peer, p.send(undefined)]));
  }

  /**
   * The peers' messages of the last exchange in: either this side's next messages or, after the
   * last exchange, the sealed pairwise states (base64 per peer identifier).
   */
  next(incoming: ReadonlyMap<number, Uint8Array>): { messages?: Map<number, Uint8Array>; states?: Record<string, string> } {
    if (this.sent < 1) throw outOfOrder();
    if (this.sent < this.exchanges) {
      this.sent++;
      return { messages: new Map([...this.parties].map(([peer, p]) => [peer, p.send(incoming.get(peer) as Uint8Array)])) };
    }
    const states: Record<string, string> = {};
    for (const [peer, p] of this.parties) {
      const raw = p.finish(incoming.get(peer) as Uint8Array);
      states[String(peer)] = Buffer.from(raw).toString('base64');
      // The raw state holds the OT seeds; only its encoding goes on (into the sealed key record).
      raw.fill(0);
    }
    this.parties.clear();
    return { states };
  }

  abort(): void {
    for (const p of this.parties.values()) {
      try {
        p.abort();
      } catch {
        // erasing is best effort: one failing abort must not keep the others' secrets
      }
    }
    this.parties.clear();
  }
}
