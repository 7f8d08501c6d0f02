// Runs in the enclave and in the reference coordinator. κ base OTs with malicious security: the
// "Verified Simplest OT" (VSOT) of DKLs18 (Doerner, Kondi, Lee, shelat, ePrint 2018/499, §5.1,
// Protocol 7) on secp256k1. The base-OT sender is the OT-extension receiver (it ends with both
// seeds ρ⁰_j, ρ¹_j); the base-OT receiver is the extension sender (choice bits ω = its Δ, it ends
// with ρ^{ω_j}_j). Five flows, S→R first: B + proof of DLog; A_j; challenges ξ_j; responses ρ'_j;
// openings H(ρ⁰_j), H(ρ¹_j). Every value is bound to the setup id and both identifiers.
import { CosignerError } from '../../../../proto/errors.ts';
import type { Rng } from '../ot-api.ts';
import {
  G, KAPPA, N, SEED_BYTES, bytesEqual, bytesToBigint, cheated, concat, hashTagged, peerPoint, randomScalar, scalarBytes, u32,
  type Point,
} from './common.ts';

const POINT = 33;
const HASH = 32;
/** Sizes of the five VSOT flows (without the pairwise frame's tag byte). */
export const VSOT_SIZES = [POINT + POINT + 32, KAPPA * POINT, KAPPA * HASH, KAPPA * HASH, KAPPA * 2 * HASH] as const;

/** Who runs this VSOT instance: the setup id and the sender's and receiver's identifiers. */
export interface VsotContext {
  readonly setupId: Uint8Array;
  readonly sender: number;
  readonly receiver: number;
}

function ids(c: VsotContext): Uint8Array[] {
  return [c.setupId, u32(c.sender), u32(c.receiver)];
}

/** ρ = H(setup, S, R, j, point), κ bits: the seed of OT j (DKLs18 Protocol 7 step 3/4). */
function pad(c: VsotContext, j: number, p: Point): Uint8Array {
  const digest = hashTagged('vsot/pad', ...ids(c), u32(j), p.toBytes(true));
  const seed = digest.slice(0, SEED_BYTES);
  // The digest's unused half is as secret as the seed: leave nothing of it behind.
  digest.fill(0);
  return seed;
}

/** The H of the verification phase (DKLs18 Protocol 7 steps 5-8), applied once or twice. */
function h(x: Uint8Array): Uint8Array {
  return hashTagged('vsot/verify', x);
}

/** Fiat–Shamir challenge of the Schnorr proof of knowledge of b, bound to setup and both parties. */
function dlogChallenge(c: VsotContext, B: Uint8Array, R: Uint8Array): bigint {
  return bytesToBigint(hashTagged('vsot/dlog', ...ids(c), B, R)) % N;
}

/** z·G = R + e·B with z in [1, n) (noble refuses 0 and ≥ n as multipliers; so do we). */
function dlogVerifies(c: VsotContext, B: Point, Bb: Uint8Array, R: Point, Rb: Uint8Array, z: bigint): boolean {
  const e = dlogChallenge(c, Bb, Rb);
  if (z === 0n || z >= N || e === 0n) return false;
  return G.multiply(z).equals(R.add(B.multiply(e)));
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** The base-OT sender (= extension receiver). Methods are called once each, in order. */
export class VsotSender {
  private b = 0n;
  private B: Point | undefined;
  private hh0: Uint8Array[] = [];
  private h01: Uint8Array[] = [];
  /** ρ⁰_j ‖ ρ¹_j for j = 0..κ-1, set once the openings are sent. */
  seeds: Uint8Array | undefined;
  private seedsPending: Uint8Array | undefined;

  constructor(private readonly c: VsotContext, private readonly rng: Rng) {}

  /** Flow 1: B = b·G and a Schnorr proof of knowledge of b (Protocol 7 step 1, π_DL). */
  first(): Uint8Array {
    this.b = randomScalar(this.rng);
    this.B = G.multiply(this.b);
    const r = randomScalar(this.rng);
    const B = this.B.toBytes(true);
    const R = G.multiply(r).toBytes(true);
    const z = (r + dlogChallenge(this.c, B, R) * this.b) % N;
    return concat(B, R, scalarBytes(z));
  }

  /** Flow 3: from the receiver's A_j, both pads and the challenges ξ_j = H(H(ρ⁰)) ⊕ H(H(ρ¹)). */
  challenge(body: Uint8Array): Uint8Array {
    const peer = this.c.receiver;
    const bB = this.B!.multiply(this.b);
    const seeds = new Uint8Array(KAPPA * 2 * SEED_BYTES);
    // Held from the start so that erase() zeroes the seeds already derived if a point is refused.
    this.seedsPending = seeds;
    const out = new Uint8Array(KAPPA * HASH);
    for (let j = 0; j < KAPPA; j++) {
      const A = peerPoint(body.subarray(j * POINT, (j + 1) * POINT), peer, 'base-ot-point');
      // A_j = B makes ρ¹_j the hash of the identity: refuse rather than hash a degenerate point.
      if (A.equals(this.B!)) throw cheated(peer, 'base-ot-point', 'A_j equals B');
      const p0 = A.multiply(this.b);
      const r0 = pad(this.c, j, p0);
      const r1 = pad(this.c, j, p0.subtract(bB));
      seeds.set(r0, j * 2 * SEED_BYTES);
      seeds.set(r1, (j * 2 + 1) * SEED_BYTES);
      const h0 = h(r0);
      const h1 = h(r1);
      r0.fill(0);
      r1.fill(0);
      this.hh0.push(h(h0));
      this.h01.push(concat(h0, h1));
      out.set(xor(h(h0), h(h1)), j * HASH);
    }
    return out;
  }

  /** Flow 5: checks every response ρ'_j = H(H(ρ⁰_j)) (Protocol 7 step 7), then opens H(ρ⁰), H(ρ¹). */
  open(body: Uint8Array): Uint8Array {
    let ok = true;
    for (let j = 0; j < KAPPA; j++) ok = bytesEqual(body.subarray(j * HASH, (j + 1) * HASH), this.hh0[j]!) && ok;
    if (!ok) throw cheated(this.c.receiver, 'base-ot-response', 'a response does not match H(H(ρ⁰))');
    this.seeds = this.seedsPending;
    return concat(...this.h01);
  }

  erase(): void {
    this.b = 0n;
    this.seedsPending?.fill(0);
    this.seeds?.fill(0);
    this.hh0 = [];
    this.h01 = [];
  }
}

/** The base-OT receiver (= extension sender) with choice bits ω (its Δ, κ bits). */
export class VsotReceiver {
  private rho: Uint8Array[] = [];
  private xi: Uint8Array | undefined;
  /** ρ^{ω_j}_j for j = 0..κ-1, set once the openings verified. */
  seeds: Uint8Array | undefined;

  constructor(private readonly c: VsotContext, private readonly choice: Uint8Array, private readonly rng: Rng) {
    if (choice.length !== KAPPA / 8) throw new CosignerError('ERR_INTERNAL', 'VSOT choice must be κ bits');
  }

  private bit(j: number): number {
    return (this.choice[j >> 3]! >> (j & 7)) & 1;
  }

  /** Flow 2: verifies B and its proof (step 2), then A_j = a_j·G + ω_j·B and ρ^{ω_j} = H(a_j·B). */
  choose(body: Uint8Array): Uint8Array {
    const peer = this.c.sender;
    const Bb = body.subarray(0, POINT);
    const B = peerPoint(Bb, peer, 'base-ot-point');
    const Rb = body.subarray(POINT, 2 * POINT);
    const R = peerPoint(Rb, peer, 'base-ot-dlog');
    if (!dlogVerifies(this.c, B, Bb, R, Rb, bytesToBigint(body.subarray(2 * POINT)))) {
      throw cheated(peer, 'base-ot-dlog', 'the proof of knowledge of log B does not verify');
    }
    const out = new Uint8Array(KAPPA * POINT);
    // B is the base of κ multiplications: a window table for it (noble caches it per point object).
    B.precompute(8, false);
    for (let j = 0; j < KAPPA; j++) {
      const a = randomScalar(this.rng);
      const aG = G.multiply(a);
      const A = this.bit(j) === 1 ? aG.add(B) : aG;
      out.set(A.toBytes(true), j * POINT);
      this.rho.push(pad(this.c, j, B.multiply(a)));
    }
    return out;
  }

  /** Flow 4: responses ρ'_j = H(H(ρ^{ω_j})) ⊕ ω_j·ξ_j (Protocol 7 step 6). */
  respond(body: Uint8Array): Uint8Array {
    this.xi = Uint8Array.from(body);
    const out = new Uint8Array(KAPPA * HASH);
    for (let j = 0; j < KAPPA; j++) {
      const hh = h(h(this.rho[j]!));
      out.set(this.bit(j) === 1 ? xor(hh, body.subarray(j * HASH, (j + 1) * HASH)) : hh, j * HASH);
    }
    return out;
  }

  /**
   * Checks the openings (step 8): H(ρ^{ω_j}) equals the opened H(ρ^{ω_j}), and ξ_j equals
   * H(H(ρ⁰)) ⊕ H(H(ρ¹)) of the opened values, so the challenge could not depend on ω_j.
   */
  verify(body: Uint8Array): void {
    const peer = this.c.sender;
    let padOk = true;
    let xiOk = true;
    for (let j = 0; j < KAPPA; j++) {
      const h0 = body.subarray(j * 2 * HASH, (j * 2 + 1) * HASH);
      const h1 = body.subarray((j * 2 + 1) * HASH, (j * 2 + 2) * HASH);
      padOk = bytesEqual(h(this.rho[j]!), this.bit(j) === 1 ? h1 : h0) && padOk;
      xiOk = bytesEqual(xor(h(h0), h(h1)), this.xi!.subarray(j * HASH, (j + 1) * HASH)) && xiOk;
    }
    if (!padOk) throw cheated(peer, 'base-ot-opening', 'an opened H(ρ) does not match the received pad');
    if (!xiOk) throw cheated(peer, 'base-ot-challenge', 'a challenge ξ_j does not match the openings');
    this.seeds = concat(...this.rho);
  }

  erase(): void {
    for (const r of this.rho) r.fill(0);
    this.rho = [];
    this.seeds?.fill(0);
  }
}
