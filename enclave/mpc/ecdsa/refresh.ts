// Runs in the enclave and in the reference coordinator. DKLs23 key refresh for one participant
// (every participant of the key takes part): each deals a random polynomial with zero constant
// term (Feldman commitments, the constant one the identity) and sends every peer its value; the
// new share is the old one plus all values received, so the group key and chain code stay while
// every share — and with fresh pairwise OT setups every OT state — changes. Shares from before and
// after a refresh do not combine: a peer caught cheating is locked out by refreshing without it
// being able to reuse what it learned.
import { CosignerError } from '../../../proto/errors.ts';
import { fromHex, toHex } from '../../../proto/encoding/hex.ts';
import { checkParticipants } from '../key-package.ts';
import { cheated, collect, equalBytes, Fn, lagrange, mul, mulBase, outOfOrder, Point, randomScalar, rngOf, scalarBytes, taggedHash, u16, type PointT } from './common.ts';
import { encode, HASH_BYTES, POINT_BYTES, Reader, T } from './codec.ts';
import { collectSetup, type EcdsaKeyShare } from './keygen.ts';
import { PairwiseSetups } from './pairwise.ts';
import type { OtLayer, Rng } from './ot-api.ts';
import type { PartyMessage, RoundParty, StepOutput } from './party.ts';

export interface EcdsaRefreshParams {
  readonly key: EcdsaKeyShare;
  readonly ot: OtLayer;
  /** Only tests seed one. */
  readonly rng?: Rng;
  /** Stamped on the refreshed record as its creation time. */
  readonly now: number;
}

const REFRESH_TAG = 'nitro-cosigner/dkls23/refresh/v1';
const SETUP_TAG = 'nitro-cosigner/dkls23/refresh-ot-setup/v1';
const IDENTITY = new Uint8Array(POINT_BYTES);

/** Σ_k C_k·x^k: the Feldman commitment of a polynomial evaluated at x. */
function evalCommitment(c: readonly PointT[], x: number): PointT {
  let acc = Point.ZERO;
  let pow = 1n;
  for (const ck of c) {
    acc = acc.add(mul(ck, pow));
    pow = Fn.mul(pow, BigInt(x));
  }
  return acc;
}

class EcdsaRefreshParty implements RoundParty<EcdsaKeyShare> {
  readonly identifier: number;
  private readonly peers: number[];
  private readonly rng: Rng;
  private readonly tag: Uint8Array;
  private coeffs: bigint[] = [];
  private readonly round1 = new Map<number, Uint8Array>();
  private setups: PairwiseSetups | undefined;
  private pending: Omit<EcdsaKeyShare, 'ecdsa'> | undefined;
  private stepNo = 0;
  private dead = false;

  constructor(private readonly p: EcdsaRefreshParams) {
    const { key } = p;
    if (!p.ot) throw new CosignerError('ERR_INVALID_ARGUMENT', 'an OT layer is required');
    if (key?.scheme !== 'dkls23-secp256k1' || !key.ecdsa) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'not a threshold ECDSA key share');
    checkParticipants(key.threshold, key.participants, key.identifier);
    this.identifier = key.identifier;
    this.peers = [...key.participants].filter((x) => x !== key.identifier).sort((a, b) => a - b);
    this.rng = rngOf(p.rng);
    // Bound to the key and its current shares: a message from another key or an earlier refresh of this one does not fit.
    const shares = [...key.participants].sort((a, b) => a - b).flatMap((id) => [u16(id), fromHex(key.verifyingShares[String(id)], { bytes: 33, field: 'verifyingShare' })]);
    this.tag = taggedHash(REFRESH_TAG, new TextEncoder().encode(key.keyId), fromHex(key.groupPublicKey, { bytes: 33, field: 'groupPublicKey' }), u16(key.threshold), ...shares);
  }

  step(incoming: readonly PartyMessage[]): StepOutput<EcdsaKeyShare> {
    if (this.dead) throw outOfOrder();
    try {
      const n = this.stepNo++;
      if (n === 0) return this.deal(incoming);
      if (n === 1) return this.combine(incoming);
      return this.exchange(collectSetup(incoming, this.identifier, this.peers));
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  private poly(x: number): bigint {
    let acc = 0n;
    let pow = BigInt(x);
    for (const a of this.coeffs) {
      acc = Fn.add(acc, Fn.mul(a, pow));
      pow = Fn.mul(pow, BigInt(x));
    }
    return acc;
  }

  /** Round 1: f_i(z) = Σ_{k≥1} a_k z^k; broadcast C_0 = identity, C_k = a_k·G; send f_i(j) to each j. */
  private deal(incoming: readonly PartyMessage[]): StepOutput<EcdsaKeyShare> {
    if (incoming.length !== 0) throw outOfOrder();
    this.coeffs = Array.from({ length: this.p.key.threshold - 1 }, () => randomScalar(this.rng));
    const payload = encode(T.refreshRound1, this.tag, IDENTITY, ...this.coeffs.map((a) => mulBase(a).toBytes(true)));
    this.round1.set(this.identifier, payload);
    const messages: PartyMessage[] = [{ from: this.identifier, to: 0, payload }];
    for (const j of this.peers) messages.push({ from: this.identifier, to: j, payload: encode(T.refreshShare, this.tag, scalarBytes(this.poly(j))) });
    return { messages };
  }

  /** Round 2: check every commitment and value, add them up; start the fresh OT setups. */
  private combine(incoming: readonly PartyMessage[]): StepOutput<EcdsaKeyShare> {
    const { key } = this.p;
    const got = collect(incoming, this.identifier, this.peers, [{ type: T.refreshRound1, broadcast: true }, { type: T.refreshShare, broadcast: false }]);
    const commitments = new Map<number, PointT[]>([[this.identifier, [Point.ZERO, ...this.coeffs.map((a) => mulBase(a))]]]);
    let share = Fn.add(Fn.fromBytes(fromHex(key.secretShare, { bytes: 32, field: 'secretShare' })), this.poly(this.identifier));
    for (const [j, [c, s]] of got) {
      const r = new Reader(c as Uint8Array, j, T.refreshRound1);
      if (!equalBytes(r.fixed(HASH_BYTES), this.tag)) throw cheated(j, 'binding');
      // The constant term must commit to zero, or the dealer would move the group key.
      if (!equalBytes(r.fixed(POINT_BYTES), IDENTITY)) throw cheated(j, 'zero-constant');
      const cj = [Point.ZERO, ...Array.from({ length: key.threshold - 1 }, () => r.point())];
      r.end();
      const v = new Reader(s as Uint8Array, j, T.refreshShare);
      if (!equalBytes(v.fixed(HASH_BYTES), this.tag)) throw cheated(j, 'binding');
      const value = v.scalar();
      v.end();
      if (!mulBase(value).equals(evalCommitment(cj, this.identifier))) throw cheated(j, 'refresh-share');
      commitments.set(j, cj);
      this.round1.set(j, c as Uint8Array);
      share = Fn.add(share, value);
    }
    const verifyingShares: Record<string, string> = {};
    const points = new Map<number, PointT>();
    for (const m of key.participants) {
      let vm = Point.fromBytes(fromHex(key.verifyingShares[String(m)], { bytes: 33, field: 'verifyingShare' }));
      for (const c of commitments.values()) vm = vm.add(evalCommitment(c, m));
      if (vm.is0()) throw cheated(undefined, 'verifying-share');
      points.set(m, vm);
      verifyingShares[String(m)] = toHex(vm.toBytes(true));
    }
    if (share === 0n || !mulBase(share).equals(points.get(this.identifier) as PointT)) throw cheated(undefined, 'refresh-share');
    const quorum = [...key.participants].sort((a, b) => a - b).slice(0, key.threshold);
    const group = quorum.reduce((acc, m) => acc.add(mul(points.get(m) as PointT, lagrange(m, quorum))), Point.ZERO);
    if (toHex(group.toBytes(true)) !== key.groupPublicKey) throw cheated(undefined, 'group-key');
    const { ecdsa: _old, ...rest } = key;
    this.pending = { ...rest, secretShare: toHex(scalarBytes(share)), verifyingShares, createdAt: this.p.now };
    this.coeffs = [];
    const parts: Uint8Array[] = [this.tag];
    for (const id of [...this.round1.keys()].sort((a, b) => a - b)) parts.push(u16(id), this.round1.get(id) as Uint8Array);
    this.setups = new PairwiseSetups(this.p.ot, taggedHash(SETUP_TAG, ...parts), this.identifier, this.peers, this.p.rng);
    return { messages: [...this.setups.first()].map(([to, blob]) => ({ from: this.identifier, to, payload: encode(T.setup, blob) })) };
  }

  private exchange(blobs: ReadonlyMap<number, Uint8Array>): StepOutput<EcdsaKeyShare> {
    const out = (this.setups as PairwiseSetups).next(blobs);
    if (out.messages) return { messages: [...out.messages].map(([to, blob]) => ({ from: this.identifier, to, payload: encode(T.setup, blob) })) };
    if (!this.pending || !out.states) throw outOfOrder();
    const result = { ...this.pending, ecdsa: { pairwise: out.states } } as EcdsaKeyShare;
    this.pending = undefined;
    this.dead = true;
    return { messages: [], result };
  }

  abort(): void {
    this.dead = true;
    this.coeffs = [];
    this.pending = undefined;
    this.setups?.abort();
  }
}

/** One participant of a DKLs23 key refresh (all participants of the key run it together). */
export function createEcdsaRefresh(params: EcdsaRefreshParams): RoundParty<EcdsaKeyShare> {
  return new EcdsaRefreshParty(params);
}
