// Runs in the enclave. Threshold ECDSA (DKLs23) over the coordinator link: the round relay that
// key generation (pairing, `ecdsa.dkg`) and key refresh (`ecdsa.refresh`) use, and the signing
// session registry with its "refresh required" mark. The protocol parties run on the ECDSA
// workers (enclave/mpc/ecdsa/host/); only their round messages cross the link.
//
// Relay rule (both protocols): request r carries this party's messages of round r (the output of
// its r-th step); the reply carries the coordinator's parties' messages of round r addressed to the
// co-signer, which feed step r+1. The co-signer sends one more request with the (usually empty)
// output of the step that returned its result, so the coordinator's parties can finish too.
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import type { Clock } from '../../proto/ports.ts';
import { fromWireMessages, MAX_ECDSA_ROUNDS, toWireMessages } from '../../proto/coordinator/ecdsa-messages.ts';
import type { WireEcdsaMessage } from '../../proto/coordinator/mpc-wire.ts';
import type { EcdsaHost, RunSpec } from '../mpc/ecdsa/host/host.ts';
import { EcdsaSessionRegistry, type SessionOwner } from '../mpc/ecdsa/host/sessions.ts';
import type { PartyMessage } from '../mpc/ecdsa/party.ts';
import type { AuditSink } from './audit-outbox.ts';
import type { UserStore } from './user-store.ts';

/** One relay request: this side's messages of `round` out, the coordinator's of the same round in. */
export type RelaySend = (round: number, messages: WireEcdsaMessage[]) => Promise<WireEcdsaMessage[]>;

/**
 * Drives one protocol run of this co-signer (participant `self` among `participants`) to its
 * result over `send`. Messages that do not come from another participant, or are addressed to
 * someone else, abort the run. The run's secrets are erased whatever happens.
 */
export async function relayRun(host: EcdsaHost, runId: string, spec: RunSpec, self: number, participants: readonly number[], send: RelaySend, signal?: AbortSignal): Promise<unknown> {
  await host.start(runId, spec);
  try {
    let incoming: PartyMessage[] = [];
    for (let round = 1; round <= MAX_ECDSA_ROUNDS + 1; round++) {
      signal?.throwIfAborted();
      const out = await host.step(runId, incoming);
      const reply = await send(round, toWireMessages(out.messages));
      if (out.result !== undefined) return out.result;
      for (const m of reply) {
        if (m.from === self || !participants.includes(m.from) || (m.to !== 0 && m.to !== self)) {
          throw new CosignerError('ERR_SESSION_ABORTED', 'relayed message from outside the participants or for another participant', { details: { identifier: m.from, round } });
        }
      }
      incoming = fromWireMessages(reply);
    }
    throw new CosignerError('ERR_SESSION_ABORTED', 'threshold ECDSA run did not finish within the round limit');
  } finally {
    host.abort(runId);
  }
}

/** The mark a cheating peer leaves on a key (KeyShareRecord.ecdsa.refreshRequired). */
export function cheatMark(err: CosignerError, now: number): { at: number; peer: number; check: string } {
  const peer = Number(err.details?.identifier);
  return { at: now, peer: Number.isInteger(peer) ? peer : 0, check: String(err.details?.check ?? 'unspecified').slice(0, 80) };
}

export interface EcdsaSessionsDeps {
  readonly clock: Clock;
  readonly host: EcdsaHost;
  readonly users: UserStore;
  readonly knownElsewhere?: (sessionId: string) => boolean;
  readonly sessions?: { readonly maxOpen?: number; readonly ttlMs?: number };
  readonly audit?: AuditSink;
  readonly log: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;
}

/**
 * The co-signer's ECDSA session registry. A peer caught cheating marks the key in the sealed DB
 * before the error goes back to the coordinator: if that write fails, the error returned says so
 * (ERR_PEER_CHEATED still, and the log carries the failed write).
 */
export function createEcdsaSessions(d: EcdsaSessionsDeps): EcdsaSessionRegistry {
  const onCheat = async (owner: SessionOwner, err: CosignerError): Promise<void> => {
    const mark = cheatMark(err, d.clock.now());
    d.log('error', { userId: owner.userId, keyId: owner.keyId, peer: mark.peer, check: mark.check, code: err.code, audit: true }, 'peer failed a threshold ECDSA check: key marked refresh required');
    d.audit?.({ kind: 'ecdsa.peer-cheated', userId: owner.userId, subjectId: owner.keyId, decision: 'refresh-required', code: err.code });
    try {
      await d.users.markRefreshRequired(owner.userId, owner.keyId, mark);
    } catch (e) {
      d.log('error', { userId: owner.userId, keyId: owner.keyId, code: toCosignerError(e).code }, 'could not seal the refresh-required mark');
      throw err;
    }
  };
  return new EcdsaSessionRegistry({ clock: d.clock, host: d.host, onCheat, ...(d.knownElsewhere ? { knownElsewhere: d.knownElsewhere } : {}), ...(d.sessions ?? {}) });
}

/** A host started on first use (no worker threads for co-signers without ECDSA keys). */
export function lazyHost(make: () => EcdsaHost): EcdsaHost {
  let h: EcdsaHost | undefined;
  const get = (): EcdsaHost => (h ??= make());
  return {
    start: (id, spec) => get().start(id, spec),
    step: (id, incoming) => get().step(id, incoming),
    abort: (id) => h?.abort(id),
    close: async () => {
      await h?.close();
      h = undefined;
    },
  };
}
