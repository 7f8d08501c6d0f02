// Runs in the enclave and in the reference coordinator. DKLs23 key generation for one participant:
// Shamir shares of the key by the Pedersen DKG with proofs of knowledge and the commit–reveal
// chain code of enclave/mpc/dkg.ts (DKLs23 §3 allows any DKG that outputs Shamir shares and the
// public shares; we reuse ours), plus the pairwise OT setup with every peer, started as soon as
// all round-1 broadcasts are in so it overlaps the DKG's second round. With a one-exchange OT
// setup the whole thing takes two rounds of messages (three step calls).
import { CosignerError } from '../../../proto/errors.ts';
import { DkgSession, type WireDkgRound1, type WireDkgRound2 } from '../dkg.ts';
import type { EcdsaShareExtras, KeyShareRecord } from '../../vault/records.ts';
import { cheated, collect, outOfOrder, taggedHash, u16 } from './common.ts';
import { encode, Reader, T, HASH_BYTES, SCALAR_BYTES } from './codec.ts';
import { PairwiseSetups } from './pairwise.ts';
import type { OtLayer, Rng } from './ot-api.ts';
import type { PartyMessage, RoundParty, StepOutput } from './party.ts';

/** A threshold ECDSA key share: the Shamir share and its pairwise OT states. Secret. */
export type EcdsaKeyShare = KeyShareRecord & { readonly scheme: 'dkls23-secp256k1'; readonly ecdsa: EcdsaShareExtras };

export interface EcdsaDkgParams {
  readonly threshold: number;
  readonly participants: readonly number[];
  readonly identifier: number;
  /** Creation time stamped on the record. */
  readonly now: number;
  readonly ot: OtLayer;
  /** Only tests seed one. */
  readonly rng?: Rng;
}

const SETUP_TAG = 'nitro-cosigner/dkls23/keygen-ot-setup/v1';
/** The DKG's Schnorr proof of knowledge over plain secp256k1: R (33, compressed) ‖ z (32). */
const POK_BYTES = 65;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

/** Maps the FROST DKG's blame (ERR_BAD_SHARE naming a peer) to the threshold ECDSA abort. */
function asCheated(err: unknown, check: string): unknown {
  if (err instanceof CosignerError && err.code === 'ERR_BAD_SHARE') {
    const id = (err.details as { identifier?: unknown } | undefined)?.identifier;
    return cheated(typeof id === 'number' ? id : undefined, check);
  }
  return err;
}

class EcdsaDkgParty implements RoundParty<EcdsaKeyShare> {
  readonly identifier: number;
  private readonly dkg: DkgSession;
  private readonly peers: number[];
  private readonly round1 = new Map<number, Uint8Array>();
  private setups: PairwiseSetups | undefined;
  private record: KeyShareRecord | undefined;
  private stepNo = 0;
  private dead = false;

  constructor(private readonly p: EcdsaDkgParams) {
    if (!p.ot) throw new CosignerError('ERR_INVALID_ARGUMENT', 'an OT layer is required');
    this.dkg = new DkgSession({ scheme: 'dkls23-secp256k1', threshold: p.threshold, participants: p.participants, identifier: p.identifier, now: p.now, ...(p.rng ? { rng: p.rng } : {}) });
    this.identifier = p.identifier;
    this.peers = [...p.participants].filter((x) => x !== p.identifier).sort((a, b) => a - b);
  }

  step(incoming: readonly PartyMessage[]): StepOutput<EcdsaKeyShare> {
    if (this.dead) throw outOfOrder();
    try {
      const n = this.stepNo++;
      if (n === 0) return this.first(incoming);
      if (n === 1) return this.second(incoming);
      if (n === 2) return this.third(incoming);
      return this.exchange(collectSetup(incoming, this.identifier, this.peers));
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** DKG round 1: commitment, proof of knowledge and chain-code commitment, broadcast. */
  private first(incoming: readonly PartyMessage[]): StepOutput<EcdsaKeyShare> {
    if (incoming.length !== 0) throw outOfOrder();
    const r1 = this.dkg.round1();
    const payload = encode(T.dkgRound1, ...r1.commitment.map((c) => bytes(c)), bytes(r1.proofOfKnowledge), bytes(r1.chainCodeCommitment));
    this.round1.set(this.identifier, payload);
    return { messages: [{ from: this.identifier, to: 0, payload }] };
  }

  /** DKG round 2 (secret share per peer) and OT setup exchange 1, in one message per peer. */
  private second(incoming: readonly PartyMessage[]): StepOutput<EcdsaKeyShare> {
    const got = collect(incoming, this.identifier, this.peers, [{ type: T.dkgRound1, broadcast: true }]);
    const wires: WireDkgRound1[] = [];
    for (const [from, [payload]] of got) {
      const r = new Reader(payload as Uint8Array, from, T.dkgRound1);
      const commitment = Array.from({ length: this.p.threshold }, () => hex(r.point().toBytes(true)));
      const proofOfKnowledge = hex(r.fixed(POK_BYTES));
      const chainCodeCommitment = hex(r.fixed(HASH_BYTES));
      r.end();
      wires.push({ identifier: from, commitment, proofOfKnowledge, chainCodeCommitment });
      this.round1.set(from, payload as Uint8Array);
    }
    let r2: WireDkgRound2[];
    try {
      r2 = this.dkg.round2(wires);
    } catch (err) {
      throw asCheated(err, 'dkg-proof-of-knowledge');
    }
    // The OT setups bind every participant's round-1 broadcast (a fresh, agreed transcript id)
    // and, inside the OT layer, both identifiers.
    const parts: Uint8Array[] = [u16(this.p.threshold)];
    for (const id of [...this.round1.keys()].sort((a, b) => a - b)) parts.push(u16(id), this.round1.get(id) as Uint8Array);
    this.setups = new PairwiseSetups(this.p.ot, taggedHash(SETUP_TAG, ...parts), this.identifier, this.peers, this.p.rng);
    const first = this.setups.first();
    const messages = r2.map((pkg) => ({ from: this.identifier, to: pkg.to, payload: encode(T.dkgRound2, bytes(pkg.signingShare), bytes(pkg.chainCodeReveal), first.get(pkg.to) as Uint8Array) }));
    return { messages };
  }

  /** DKG round 3 (check shares, make the record) and the next OT setup exchange. */
  private third(incoming: readonly PartyMessage[]): StepOutput<EcdsaKeyShare> {
    const got = collect(incoming, this.identifier, this.peers, [{ type: T.dkgRound2, broadcast: false }]);
    const wires: WireDkgRound2[] = [];
    const blobs = new Map<number, Uint8Array>();
    for (const [from, [payload]] of got) {
      const r = new Reader(payload as Uint8Array, from, T.dkgRound2);
      const signingShare = hex(r.fixed(SCALAR_BYTES));
      const chainCodeReveal = hex(r.fixed(HASH_BYTES));
      blobs.set(from, r.rest());
      wires.push({ from, to: this.identifier, signingShare, chainCodeReveal });
    }
    try {
      this.record = this.dkg.round3(wires);
    } catch (err) {
      throw asCheated(err, 'dkg-share');
    }
    return this.exchange(blobs);
  }

  private exchange(blobs: ReadonlyMap<number, Uint8Array>): StepOutput<EcdsaKeyShare> {
    const setups = this.setups as PairwiseSetups;
    const out = setups.next(blobs);
    if (out.messages) return { messages: [...out.messages].map(([to, blob]) => ({ from: this.identifier, to, payload: encode(T.setup, blob) })) };
    if (!this.record || !out.states) throw outOfOrder();
    const result = { ...this.record, scheme: 'dkls23-secp256k1', ecdsa: { pairwise: out.states } } as EcdsaKeyShare;
    this.record = undefined;
    this.dead = true;
    return { messages: [], result };
  }

  abort(): void {
    this.dead = true;
    this.dkg.abort();
    this.setups?.abort();
    this.record = undefined;
  }
}

/** One OT setup exchange from every peer (after key generation's or refresh's own rounds). */
export function collectSetup(incoming: readonly PartyMessage[], self: number, peers: readonly number[]): Map<number, Uint8Array> {
  const got = collect(incoming, self, peers, [{ type: T.setup, broadcast: false }]);
  const blobs = new Map<number, Uint8Array>();
  for (const [from, [payload]] of got) blobs.set(from, new Reader(payload as Uint8Array, from, T.setup).rest());
  return blobs;
}

/** One participant of DKLs23 key generation (threshold ECDSA on secp256k1). */
export function createEcdsaDkg(params: EcdsaDkgParams): RoundParty<EcdsaKeyShare> {
  return new EcdsaDkgParty(params);
}
