// Reference coordinator (test stand-in, loopback only). Runs the coordinator's own threshold ECDSA
// (DKLs23) parties, every participant but the co-signer, in lock step with the co-signer's party
// over the round relay (enclave/upstream/ecdsa-link.ts): each advance() steps every own party once
// with the previous round's messages addressed to it (the co-signer's and the other own parties'),
// and returns this round's messages for the co-signer. The parties run in this thread.
import { CosignerError } from '../../proto/errors.ts';
import { fromWireMessages, toWireMessages } from '../../proto/coordinator/ecdsa-messages.ts';
import type { WireEcdsaMessage } from '../../proto/coordinator/mpc-wire.ts';
import type { PartyMessage, RoundParty } from '../../enclave/mpc/ecdsa/party.ts';

/** The co-signer is participant 1 in every key this coordinator makes. */
export const COSIGNER_ID = 1;

/** The own parties of one protocol run. */
export class CoordinatorRelay<T> {
  private prevOwn: PartyMessage[] = [];
  private rounds = 0;
  private results: T[] | undefined;
  private dead = false;

  /**
   * `all`: every own party must return a result in the same round (key generation, refresh); for
   * signing only the assembling party's result counts.
   */
  constructor(private readonly parties: readonly RoundParty<T>[], private readonly all = true, private readonly maxRounds = 17) {}

  /** How many rounds have been stepped. */
  get round(): number {
    return this.rounds;
  }

  /** Every own party's result, once all have one. */
  get done(): readonly T[] | undefined {
    return this.results;
  }

  /**
   * One round: `fromCosigner` are the co-signer's messages of the previous round (empty for the
   * first). Returns the own parties' messages of this round addressed to the co-signer (or to all).
   * Any failure aborts every own party for good.
   */
  advance(fromCosigner: readonly WireEcdsaMessage[]): WireEcdsaMessage[] {
    if (this.dead || this.results) throw new CosignerError('ERR_SESSION_ABORTED', 'threshold ECDSA run already ended');
    if (++this.rounds > this.maxRounds) return this.fail(new CosignerError('ERR_SESSION_ABORTED', 'too many rounds'));
    for (const m of fromCosigner) if (m.from !== COSIGNER_ID) return this.fail(new CosignerError('ERR_SESSION_ABORTED', 'the co-signer relayed a message it did not send', { details: { identifier: m.from } }));
    const prev = [...fromWireMessages(fromCosigner), ...this.prevOwn];
    const own: PartyMessage[] = [];
    const results: T[] = [];
    try {
      for (const p of this.parties) {
        const incoming = this.rounds === 1 ? [] : prev.filter((m) => m.from !== p.identifier && (m.to === 0 || m.to === p.identifier));
        const out = p.step(incoming);
        own.push(...out.messages);
        if (out.result !== undefined) results.push(out.result);
      }
    } catch (err) {
      return this.fail(err);
    }
    if (this.all && results.length > 0 && results.length !== this.parties.length) return this.fail(new CosignerError('ERR_SESSION_ABORTED', 'own parties finished in different rounds'));
    if (results.length > 0) this.results = results;
    this.prevOwn = own;
    return toWireMessages(own.filter((m) => m.to === 0 || m.to === COSIGNER_ID));
  }

  abort(): void {
    this.dead = true;
    for (const p of this.parties) p.abort();
  }

  private fail(err: unknown): never {
    this.abort();
    throw err;
  }
}
