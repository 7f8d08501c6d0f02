// Runs in the enclave and in the reference coordinator. The pairwise OT setup: two VSOT instances
// run side by side, one per direction, so that afterwards each party can be the OT-extension
// receiver (it was the base-OT sender: both seeds) and the extension sender (it was the base-OT
// receiver with choice bits Δ: one seed per j) towards the same peer. The output is the sealed
// pairwise state whose layout is below and in docs/ecdsa.md.
import { CosignerError } from '../../../../proto/errors.ts';
import type { PairwiseSetupParams, PairwiseSetupParty } from '../ot-api.ts';
import { VSOT_SIZES, VsotReceiver, VsotSender } from './base-ot.ts';
import {
  KAPPA, SEED_BYTES, checkIds, concat, expectFrame, hashTagged, invalidArgument, randomBytesOf, rngOf, u32,
} from './common.ts';

const STATE_VERSION = 1;
const DELTA_BYTES = KAPPA / 8;
const SENDER_SEEDS = KAPPA * 2 * SEED_BYTES;
const RECEIVER_SEEDS = KAPPA * SEED_BYTES;
/** version ‖ self u32 ‖ peer u32 ‖ setupId 32 ‖ ρ⁰_j‖ρ¹_j (j<κ) ‖ Δ ‖ ρ^{Δ_j}_j (j<κ). */
export const STATE_BYTES = 1 + 4 + 4 + 32 + SENDER_SEEDS + DELTA_BYTES + RECEIVER_SEEDS;
/** Longest setup transcript accepted (it names a key generation or refresh; it is hashed). */
export const MAX_TRANSCRIPT = 4096;
const SETUP_EXCHANGES = 5;
/** Exchange k's message is tag k ‖ the VSOT flow k of one of the two instances. */
export const SETUP_MESSAGE_BYTES = VSOT_SIZES.map((n) => n + 1);

/** What an RVOLE needs from the sealed pairwise state. */
export interface PairwiseState {
  readonly self: number;
  readonly peer: number;
  readonly setupId: Uint8Array;
  /** As extension receiver towards peer: ρ⁰_j, ρ¹_j at (2j)·16 and (2j+1)·16. */
  readonly senderSeeds: Uint8Array;
  /** As extension sender towards peer: Δ (bit j = byte j>>3, bit j&7). */
  readonly delta: Uint8Array;
  /** As extension sender: ρ^{Δ_j}_j at j·16. */
  readonly receiverSeeds: Uint8Array;
}

function setupIdOf(transcript: Uint8Array): Uint8Array {
  if (!(transcript instanceof Uint8Array) || transcript.length === 0 || transcript.length > MAX_TRANSCRIPT) {
    throw invalidArgument(`transcript must be 1..${MAX_TRANSCRIPT} bytes`);
  }
  return hashTagged('setup', transcript);
}

export function encodeState(s: PairwiseState): Uint8Array {
  return concat(Uint8Array.of(STATE_VERSION), u32(s.self), u32(s.peer), s.setupId, s.senderSeeds, s.delta, s.receiverSeeds);
}

/** Strict parse: exact length, known version, and the identifiers the caller expects. */
export function decodeState(bytes: Uint8Array, self: number, peer: number): PairwiseState {
  checkIds(self, peer);
  if (!(bytes instanceof Uint8Array) || bytes.length !== STATE_BYTES || bytes[0] !== STATE_VERSION) {
    throw invalidArgument(`pairwise state must be ${STATE_BYTES} bytes of version ${STATE_VERSION}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(1) !== self || view.getUint32(5) !== peer) {
    throw invalidArgument('pairwise state belongs to another pair of participants');
  }
  let off = 9;
  const take = (n: number) => bytes.slice(off, (off += n));
  return {
    self, peer, setupId: take(32), senderSeeds: take(SENDER_SEEDS), delta: take(DELTA_BYTES), receiverSeeds: take(RECEIVER_SEEDS),
  };
}

/** One side of the setup; see PairwiseSetupParty for the calling convention. */
class PairwiseSetup implements PairwiseSetupParty {
  readonly exchanges = SETUP_EXCHANGES;
  private step = 0;
  private dead = false;
  private readonly sender: VsotSender;
  private readonly receiver: VsotReceiver;
  private readonly delta: Uint8Array;
  private readonly setupId: Uint8Array;

  constructor(private readonly p: PairwiseSetupParams) {
    checkIds(p.self, p.peer);
    this.setupId = setupIdOf(p.transcript);
    const rng = rngOf(p.rng);
    this.delta = randomBytesOf(rng, DELTA_BYTES);
    this.sender = new VsotSender({ setupId: this.setupId, sender: p.self, receiver: p.peer }, rng);
    this.receiver = new VsotReceiver({ setupId: this.setupId, sender: p.peer, receiver: p.self }, this.delta, rng);
  }

  private guarded<T>(expected: number, f: () => T): T {
    if (this.dead || this.step !== expected) throw new CosignerError('ERR_STATE', 'pairwise OT setup called out of order');
    this.step++;
    try {
      return f();
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  private frame(incoming: Uint8Array | undefined, k: number): Uint8Array {
    return expectFrame(incoming, k, SETUP_MESSAGE_BYTES[k - 1]!, this.p.peer).subarray(1);
  }

  send(incoming: Uint8Array | undefined): Uint8Array {
    const k = this.step + 1;
    return this.guarded(this.step, () => {
      let body: Uint8Array;
      if (k === 1) {
        if (incoming !== undefined) throw invalidArgument('the first exchange takes no incoming message');
        body = this.sender.first();
      } else if (k === 2) body = this.receiver.choose(this.frame(incoming, 1));
      else if (k === 3) body = this.sender.challenge(this.frame(incoming, 2));
      else if (k === 4) body = this.receiver.respond(this.frame(incoming, 3));
      else if (k === 5) body = this.sender.open(this.frame(incoming, 4));
      else throw new CosignerError('ERR_STATE', 'pairwise OT setup has no more exchanges');
      return concat(Uint8Array.of(k), body);
    });
  }

  finish(incoming: Uint8Array): Uint8Array {
    return this.guarded(SETUP_EXCHANGES, () => {
      this.receiver.verify(this.frame(incoming, SETUP_EXCHANGES));
      const out = encodeState({
        self: this.p.self, peer: this.p.peer, setupId: this.setupId,
        senderSeeds: this.sender.seeds!, delta: this.delta, receiverSeeds: this.receiver.seeds!,
      });
      this.abort();
      return out;
    });
  }

  abort(): void {
    this.dead = true;
    this.sender.erase();
    this.receiver.erase();
    this.delta.fill(0);
  }
}

export function pairwiseSetup(p: PairwiseSetupParams): PairwiseSetupParty {
  return new PairwiseSetup(p);
}
