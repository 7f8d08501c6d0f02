// Runs in the enclave's ECDSA worker threads (and in-process for tests and the reference
// coordinator). Holds the live protocol runs of one thread by run id: a run's secrets (shares,
// nonces, OT state) stay in this thread's memory from its first step to its end and never cross
// to the main thread; only the round messages and the final result do. Bounded in count.
import { CosignerError } from '../../../../proto/errors.ts';
import type { PartyMessage, RoundParty, StepOutput } from '../party.ts';
import type { EcdsaDkgParams, EcdsaProtocols, EcdsaRefreshParams, EcdsaSigningParams } from './protocols.ts';

/** Which protocol a run is, with its parameters (plain data). */
export type RunSpec =
  | { readonly kind: 'dkg'; readonly params: EcdsaDkgParams }
  | { readonly kind: 'sign'; readonly params: EcdsaSigningParams }
  | { readonly kind: 'refresh'; readonly params: EcdsaRefreshParams };

/** Most runs one thread holds at once (signing sessions are bounded before this by their registry). */
export const MAX_RUNS = 1024;
const RUN_ID = /^[A-Za-z0-9._:/-]{1,200}$/;

/** The runs of one thread. */
export class HostCore {
  private readonly runs = new Map<string, RoundParty<unknown>>();

  constructor(private readonly protocols: EcdsaProtocols) {}

  get size(): number {
    return this.runs.size;
  }

  /** Creates the party of a new run; a run id in use is refused (the old run is aborted too). */
  start(runId: string, spec: RunSpec): void {
    if (typeof runId !== 'string' || !RUN_ID.test(runId)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'bad run id');
    if (this.runs.has(runId)) {
      this.abort(runId);
      throw new CosignerError('ERR_SESSION_ABORTED', 'run id already in use: run aborted');
    }
    if (this.runs.size >= MAX_RUNS) throw new CosignerError('ERR_BUSY', 'too many threshold ECDSA runs in progress');
    this.runs.set(runId, this.create(spec));
  }

  /**
   * One round of a run. Whatever fails aborts the run for good (its secrets erased); a result
   * ends it. The error is rethrown as the protocol raised it (ERR_PEER_CHEATED names the peer).
   */
  step(runId: string, incoming: readonly PartyMessage[]): StepOutput<unknown> {
    const party = this.runs.get(runId);
    if (!party) throw new CosignerError('ERR_SESSION_NOT_FOUND', 'no such threshold ECDSA run (finished, aborted or its worker restarted)');
    let out: StepOutput<unknown>;
    try {
      out = party.step(incoming);
    } catch (err) {
      this.abort(runId);
      throw err;
    }
    if (out.result !== undefined) this.abort(runId);
    return out;
  }

  abort(runId: string): void {
    const party = this.runs.get(runId);
    this.runs.delete(runId);
    party?.abort();
  }

  abortAll(): void {
    for (const id of [...this.runs.keys()]) this.abort(id);
  }

  private create(spec: RunSpec): RoundParty<unknown> {
    switch (spec.kind) {
      case 'dkg':
        return this.protocols.dkg(spec.params);
      case 'sign':
        return this.protocols.signing(spec.params);
      case 'refresh':
        return this.protocols.refresh(spec.params);
      default:
        throw new CosignerError('ERR_INVALID_ARGUMENT', 'unknown threshold ECDSA run kind');
    }
  }
}
