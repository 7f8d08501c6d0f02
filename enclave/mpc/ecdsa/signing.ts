// Runs in the enclave (rounds 1–3) and in the reference coordinator (also the final assembly).
// One participant of DKLs23 threshold signing, Protocol 3.6 of Doerner–Kondi–Lee–shelat,
// "Threshold ECDSA in Three Rounds" (ePrint 2023/765), with the multiplications done by the
// two-round random vector OLE of the OT layer (Functionality 3.5, ot-api.ts). Every nonce-like
// value (instance key r_i, inversion mask φ_i, the RVOLE receivers and their χ) lives only in this
// object, is used once and is erased when the run finishes or aborts. The run is bound to the
// session id, the key (id), the digest and the signer set; every message carries that binding's
// hash and every RVOLE transcript includes it with both identifiers and the direction.
import { CosignerError } from '../../../proto/errors.ts';
import { fromHex } from '../../../proto/encoding/hex.ts';
import type { SessionBinding } from '../signing-session.ts';
import { checkParticipants } from '../key-package.ts';
import { checkSubset, cheated, collect, equalBytes, Fn, lagrange, mul, mulBase, mulPublic, outOfOrder, Point, pointBytes, randomScalar, rngOf, scalarBytes, taggedHash, u16, type PointT } from './common.ts';
import { encode, HASH_BYTES, Reader, T } from './codec.ts';
import { finishSignature, verifyEcdsa, type EcdsaSignature } from './signature.ts';
import type { EcdsaKeyShare } from './keygen.ts';
import type { OtLayer, Rng, RvoleReceiver } from './ot-api.ts';
import type { PartyMessage, RoundParty, StepOutput } from './party.ts';

export interface EcdsaSigningParams {
  readonly sessionId: string;
  /** The key share, already derived for the path being signed (derivation.ts deriveKeyShare). */
  readonly key: EcdsaKeyShare;
  /** The 32-byte hash ECDSA signs (the enclave recomputes it from the approved transaction). */
  readonly digest: Uint8Array;
  readonly signers: readonly number[];
  readonly ot: OtLayer;
  /** Only tests seed one. */
  readonly rng?: Rng;
}

const BINDING_TAG = 'nitro-cosigner/dkls23/sign-binding/v1';
const COMMIT_TAG = 'nitro-cosigner/dkls23/sign-commit-R/v1';
const RVOLE_TAG = 'nitro-cosigner/dkls23/sign-rvole/v1';
const SALT_BYTES = 32;

/** Hash of everything the run is bound to (in every message and every RVOLE transcript). */
function bindingHash(b: SessionBinding, groupPublicKey: Uint8Array, digest: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  return taggedHash(BINDING_TAG, enc.encode(b.sessionId), enc.encode(b.keyId), groupPublicKey, digest, Uint8Array.from(b.signers.flatMap((s) => [...u16(s)])));
}

/** The RVOLE transcript for `sender` (Alice, inputs r and sk) multiplying with `receiver`'s χ. */
function rvoleTranscript(binding: Uint8Array, sender: number, receiver: number): Uint8Array {
  return taggedHash(RVOLE_TAG, binding, u16(sender), u16(receiver));
}

function commitR(binding: Uint8Array, id: number, R: Uint8Array, salt: Uint8Array): Uint8Array {
  return taggedHash(COMMIT_TAG, binding, u16(id), R, salt);
}

/** What round 2 learned from one peer j and round 3 uses. */
interface PeerState {
  receiver?: RvoleReceiver;
  commitment?: Uint8Array;
  cu: bigint;
  cv: bigint;
}

type State = 'new' | 'round1' | 'round2' | 'round3' | 'done' | 'aborted';

class EcdsaSigningParty implements RoundParty<EcdsaSignature> {
  readonly identifier: number;
  readonly binding: SessionBinding;
  private readonly tag: Uint8Array;
  private readonly peers: number[];
  private readonly rng: Rng;
  private readonly groupKey: PointT;
  private readonly publicShares = new Map<number, PointT>();
  private readonly peerState = new Map<number, PeerState>();
  private state: State = 'new';
  // Secret per-run values (DKLs23 Protocol 3.6): sk_i = λ_i·x_i, r_i, φ_i, and the salt of R_i's commitment.
  private sk = 0n;
  private r = 0n;
  private phi = 0n;
  private salt: Uint8Array | undefined;
  // R_i = r_i·G, computed once in round 1 (committed to then, opened in round 2).
  private Ri: PointT | undefined;
  // Public after round 3: R = Σ R_j, r_x, and this party's (u_i, w_i).
  private R: PointT | undefined;
  private rx = 0n;
  private own: { u: bigint; w: bigint } | undefined;

  constructor(private readonly p: EcdsaSigningParams) {
    const { key, digest, sessionId } = p;
    if (!p.ot) throw new CosignerError('ERR_INVALID_ARGUMENT', 'an OT layer is required');
    if (key?.scheme !== 'dkls23-secp256k1' || !key.ecdsa) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'not a threshold ECDSA key share');
    if (typeof sessionId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(sessionId)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'session id must be 1..128 characters [A-Za-z0-9._:-]');
    if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new CosignerError('ERR_INVALID_ARGUMENT', 'the ECDSA digest must be 32 bytes');
    // Fail closed on a key a peer was caught cheating with: it signs again only after a refresh.
    if (key.ecdsa.refreshRequired) throw new CosignerError('ERR_KEY_REFRESH_REQUIRED', 'this key must be refreshed before it signs again', { details: { keyId: key.keyId } });
    checkParticipants(key.threshold, key.participants, key.identifier);
    const signers = checkSubset(p.signers, key.participants, key.identifier, key.threshold);
    this.identifier = key.identifier;
    this.peers = signers.filter((s) => s !== key.identifier);
    this.rng = rngOf(p.rng);
    const group = fromHex(key.groupPublicKey, { bytes: 33, field: 'groupPublicKey' });
    this.groupKey = Point.fromBytes(group);
    // pk_j = λ_j·X_j for every signer (Protocol 3.6, the public shares each party checks against);
    // X_j and λ_j are both public, so the variable-time multiplication is safe here.
    let sum = Point.ZERO;
    for (const j of signers) {
      const pk = mulPublic(Point.fromBytes(fromHex(key.verifyingShares[String(j)], { bytes: 33, field: 'verifyingShare' })), lagrange(j, signers));
      this.publicShares.set(j, pk);
      sum = sum.add(pk);
    }
    if (!sum.equals(this.groupKey)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'key share record is inconsistent: verifying shares do not interpolate to the group key');
    this.sk = Fn.mul(lagrange(key.identifier, signers), Fn.fromBytes(fromHex(key.secretShare, { bytes: 32, field: 'secretShare' })));
    if (!mulBase(this.sk).equals(this.publicShares.get(key.identifier) as PointT)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'key share record is inconsistent: share does not match its verifying share');
    for (const j of this.peers) if (typeof key.ecdsa.pairwise[String(j)] !== 'string') throw new CosignerError('ERR_INVALID_ARGUMENT', 'key share lacks the pairwise OT state of a signer', { details: { identifier: j } });
    this.binding = Object.freeze({ sessionId, keyId: key.keyId, messageDigest: Buffer.from(digest).toString('hex'), signers: Object.freeze(signers) });
    this.tag = bindingHash(this.binding, group, digest);
  }

  step(incoming: readonly PartyMessage[]): StepOutput<EcdsaSignature> {
    const s = this.state;
    if (s === 'done' || s === 'aborted') throw outOfOrder();
    try {
      if (s === 'new') return this.round1(incoming);
      if (s === 'round1') return this.round2(incoming);
      if (s === 'round2') return this.round3(incoming);
      return this.assemble(incoming);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** Runs `f` on the decoded pairwise OT state with j, zeroed afterwards (it holds the OT seeds). */
  private withPairwise<T>(j: number, f: (pairwise: Uint8Array) => T): T {
    const pairwise = Buffer.from(this.p.key.ecdsa.pairwise[String(j)] as string, 'base64');
    try {
      return f(pairwise);
    } finally {
      pairwise.fill(0);
    }
  }

  /** Round 1 (Protocol 3.6 step 1): r_i, φ_i, Com(R_i) broadcast; RVOLE msg1 to each peer (we are Bob). */
  private round1(incoming: readonly PartyMessage[]): StepOutput<EcdsaSignature> {
    if (incoming.length !== 0) throw outOfOrder();
    this.r = randomScalar(this.rng);
    this.phi = randomScalar(this.rng);
    this.salt = this.rng(SALT_BYTES);
    this.Ri = mulBase(this.r);
    const messages: PartyMessage[] = [{ from: this.identifier, to: 0, payload: encode(T.signCommit, this.tag, commitR(this.tag, this.identifier, pointBytes(this.Ri), this.salt)) }];
    for (const j of this.peers) {
      const receiver = this.withPairwise(j, (pairwise) => this.p.ot.rvoleReceive({ pairwise, transcript: rvoleTranscript(this.tag, j, this.identifier), self: this.identifier, peer: j, rng: this.rng }));
      this.peerState.set(j, { receiver, cu: 0n, cv: 0n });
      messages.push({ from: this.identifier, to: j, payload: encode(T.signMsg1, this.tag, receiver.msg1) });
    }
    this.state = 'round1';
    return { messages };
  }

  /**
   * Round 2 (step 2): for each peer j, RVOLE sender with a = (r_i, sk_i) against j's χ_{j,i};
   * send j: msg2, R_i and its opening, pk_i, Γ^u = c_u·G, Γ^v = c_v·G, ψ_{i,j} = φ_i − χ_{i,j}.
   */
  private round2(incoming: readonly PartyMessage[]): StepOutput<EcdsaSignature> {
    const got = collect(incoming, this.identifier, this.peers, [{ type: T.signCommit, broadcast: true }, { type: T.signMsg1, broadcast: false }]);
    const msg1s = new Map<number, Uint8Array>();
    for (const [j, [commit, m1]] of got) {
      const c = new Reader(commit as Uint8Array, j, T.signCommit);
      this.checkTag(c.fixed(HASH_BYTES), j);
      const commitment = c.fixed(HASH_BYTES);
      c.end();
      const m = new Reader(m1 as Uint8Array, j, T.signMsg1);
      this.checkTag(m.fixed(HASH_BYTES), j);
      msg1s.set(j, m.rest());
      (this.peerState.get(j) as PeerState).commitment = commitment;
    }
    const Ri = pointBytes(this.Ri as PointT);
    const pki = pointBytes(this.publicShares.get(this.identifier) as PointT);
    const messages: PartyMessage[] = [];
    for (const j of this.peers) {
      const st = this.peerState.get(j) as PeerState;
      const sent = this.withPairwise(j, (pairwise) => this.p.ot.rvoleSend({ pairwise, transcript: rvoleTranscript(this.tag, this.identifier, j), self: this.identifier, peer: j, rng: this.rng, msg1: msg1s.get(j) as Uint8Array, inputs: [this.r, this.sk] }));
      [st.cu, st.cv] = sent.c;
      const psi = Fn.sub(this.phi, (st.receiver as RvoleReceiver).chi);
      const payload = encode(T.signRound2, this.tag, Ri, this.salt as Uint8Array, pki, pointBytes(mulBase(st.cu)), pointBytes(mulBase(st.cv)), scalarBytes(psi), sent.msg2);
      messages.push({ from: this.identifier, to: j, payload });
    }
    this.state = 'round2';
    return { messages };
  }

  /**
   * Round 3 (step 3): open and check every peer's R_j, check pk_j, finish our RVOLE receivers and
   * run the consistency checks χ·R_j = Γ^u_j + d_u·G and χ·pk_j = Γ^v_j + d_v·G (the paper prints
   * the second with "Lagrange(P, j, 0)·P(j)"; pk_j is what the algebra needs — the erratum the
   * 0xCarbon DKLs23 implementation notes; our pk_j is checked to equal λ_j·X_j first, so both
   * readings coincide here). Then u_i, v_i, w_i; broadcast (u_i, w_i).
   */
  private round3(incoming: readonly PartyMessage[]): StepOutput<EcdsaSignature> {
    const got = collect(incoming, this.identifier, this.peers, [{ type: T.signRound2, broadcast: false }]);
    let R = this.Ri as PointT;
    let pkSum = this.publicShares.get(this.identifier) as PointT;
    let psiSum = 0n;
    let uSum = 0n;
    let vSum = 0n;
    for (const j of this.peers) {
      const st = this.peerState.get(j) as PeerState;
      const m = new Reader((got.get(j) as Uint8Array[])[0] as Uint8Array, j, T.signRound2);
      this.checkTag(m.fixed(HASH_BYTES), j);
      const Rj = m.point();
      const salt = m.fixed(SALT_BYTES);
      const pkj = m.point();
      const gu = m.point();
      const gv = m.point();
      const psi = m.scalar();
      const msg2 = m.rest();
      if (!equalBytes(commitR(this.tag, j, pointBytes(Rj), salt), st.commitment as Uint8Array)) throw cheated(j, 'commitment');
      if (!pkj.equals(this.publicShares.get(j) as PointT)) throw cheated(j, 'public-share');
      const receiver = st.receiver as RvoleReceiver;
      const [du, dv] = receiver.finish(msg2);
      if (!mul(Rj, receiver.chi).equals(gu.add(mulBase(du)))) throw cheated(j, 'gamma-u');
      if (!mul(pkj, receiver.chi).equals(gv.add(mulBase(dv)))) throw cheated(j, 'gamma-v');
      R = R.add(Rj);
      pkSum = pkSum.add(pkj);
      psiSum = Fn.add(psiSum, psi);
      uSum = Fn.add(uSum, Fn.add(st.cu, du));
      vSum = Fn.add(vSum, Fn.add(st.cv, dv));
      // finish erased the OT secrets; χ_{i,j} is dead now too.
      receiver.abort();
      st.receiver = undefined;
    }
    if (!pkSum.equals(this.groupKey)) throw cheated(undefined, 'group-key');
    if (R.is0()) throw cheated(undefined, 'instance-point');
    const rx = Fn.create(R.toAffine().x);
    if (rx === 0n) throw cheated(undefined, 'instance-point');
    const mask = Fn.add(this.phi, psiSum);
    const u = Fn.add(Fn.mul(this.r, mask), uSum);
    const v = Fn.add(Fn.mul(this.sk, mask), vSum);
    const h = Fn.create(BigInt('0x' + Buffer.from(this.p.digest).toString('hex')));
    const w = Fn.add(Fn.mul(h, this.phi), Fn.mul(rx, v));
    this.R = R;
    this.rx = rx;
    this.own = { u, w };
    this.erase();
    this.state = 'round3';
    return { messages: [{ from: this.identifier, to: 0, payload: encode(T.signRound3, this.tag, scalarBytes(u), scalarBytes(w)) }] };
  }

  /** Assembly (step 4, the coordinator's party only): s = Σw / Σu, low-S, recovery id, verified. */
  private assemble(incoming: readonly PartyMessage[]): StepOutput<EcdsaSignature> {
    const got = collect(incoming, this.identifier, this.peers, [{ type: T.signRound3, broadcast: true }]);
    let u = (this.own as { u: bigint }).u;
    let w = (this.own as { w: bigint }).w;
    for (const j of this.peers) {
      const m = new Reader((got.get(j) as Uint8Array[])[0] as Uint8Array, j, T.signRound3);
      this.checkTag(m.fixed(HASH_BYTES), j);
      u = Fn.add(u, m.scalar());
      w = Fn.add(w, m.scalar());
      m.end();
    }
    if (u === 0n || w === 0n) throw cheated(undefined, 'signature');
    const sig = finishSignature(this.R as PointT, this.rx, Fn.div(w, u));
    if (!verifyEcdsa(sig, this.p.digest, pointBytes(this.groupKey))) throw cheated(undefined, 'signature');
    this.state = 'done';
    this.own = undefined;
    return { messages: [], result: sig };
  }

  /** A message carrying another run's binding (replayed or misrouted) blames its sender. */
  private checkTag(tag: Uint8Array, from: number): void {
    if (!equalBytes(tag, this.tag)) throw cheated(from, 'binding');
  }

  /** Drops every secret of the run (r_i, φ_i, sk_i, salt, RVOLE receivers and shares). */
  private erase(): void {
    this.r = 0n;
    this.phi = 0n;
    this.sk = 0n;
    this.salt?.fill(0);
    this.salt = undefined;
    this.Ri = undefined;
    for (const st of this.peerState.values()) {
      // A run aborted before round 3 still holds its receivers (β, rows, χ): zero them, don't
      // leave them to the GC. abort() is idempotent, so receivers already finished are fine.
      st.receiver?.abort();
      st.receiver = undefined;
      st.cu = 0n;
      st.cv = 0n;
    }
    this.peerState.clear();
  }

  abort(): void {
    this.erase();
    this.own = undefined;
    this.R = undefined;
    if (this.state !== 'done') this.state = 'aborted';
  }
}

/** One participant of one DKLs23 signing run (three rounds; a fourth assembles the signature). */
export function createEcdsaSigning(params: EcdsaSigningParams): RoundParty<EcdsaSignature> & { readonly binding: SessionBinding } {
  return new EcdsaSigningParty(params);
}
