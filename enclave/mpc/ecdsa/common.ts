// Runs in the enclave and in the reference coordinator. Shared pieces of the DKLs23 protocol
// objects (key generation, signing, refresh): scalar and point helpers composed from
// @noble/curves, randomness, the typed aborts, and the per-round inbox check every step runs.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { mapHashToField } from '@noble/curves/abstract/modular.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CosignerError } from '../../../proto/errors.ts';
import type { Rng } from './ot-api.ts';
import type { PartyMessage } from './party.ts';

export const Point = secp256k1.Point;
export type PointT = InstanceType<typeof Point>;
export const Fn = secp256k1.Point.Fn;
export const N = Fn.ORDER;

/** The CSPRNG (crypto.getRandomValues through @noble/hashes) unless a test seeds one. */
export function rngOf(rng: Rng | undefined): Rng {
  return rng ?? ((n: number) => randomBytes(n));
}

/** A uniform non-zero scalar: 48 random bytes reduced by noble's mapHashToField (bias < 2^-128). */
export function randomScalar(rng: Rng): bigint {
  return bytesToNumberBE(mapHashToField(rng(48), N));
}

export function scalarBytes(x: bigint): Uint8Array {
  return Fn.toBytes(x);
}

export function pointBytes(p: PointT): Uint8Array {
  return p.toBytes(true);
}

export function mulG(x: bigint): PointT {
  return Point.BASE.multiply(x);
}

/** x·P allowing x = 0 (noble's multiply refuses 0). */
export function mul(p: PointT, x: bigint): PointT {
  return x === 0n ? Point.ZERO : p.multiply(x);
}

/**
 * x·P for a PUBLIC scalar x (Lagrange coefficients, never a share or nonce): noble's variable-time
 * multiplyUnsafe, about 2.4× faster than the constant-time multiply secrets must use.
 */
export function mulPublic(p: PointT, x: bigint): PointT {
  return p.multiplyUnsafe(x);
}

/** x·G allowing x = 0. */
export function mulBase(x: bigint): PointT {
  return x === 0n ? Point.ZERO : Point.BASE.multiply(x);
}

/** Lagrange coefficient at 0 of `id` over the identifier set `set` (mod n). */
export function lagrange(id: number, set: readonly number[]): bigint {
  let num = 1n;
  let den = 1n;
  for (const j of set) {
    if (j === id) continue;
    num = Fn.mul(num, BigInt(j));
    den = Fn.mul(den, Fn.sub(BigInt(j), BigInt(id)));
  }
  return Fn.div(num, den);
}

/** SHA-256 of a domain tag and parts, each part length-prefixed (u32 BE) so no two splits collide. */
export function taggedHash(tag: string, ...parts: Uint8Array[]): Uint8Array {
  const h = sha256.create().update(new TextEncoder().encode(tag)).update(Uint8Array.of(0));
  for (const p of parts) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, p.length, false);
    h.update(len).update(p);
  }
  return h.digest();
}

export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/** A peer failed a protocol check: names it (when one can be named) and the check. */
export function cheated(identifier: number | undefined, check: string): CosignerError {
  const details: Record<string, string | number> = { check };
  if (identifier !== undefined) details.identifier = identifier;
  return new CosignerError('ERR_PEER_CHEATED', `protocol check failed: ${check}`, { details });
}

export function outOfOrder(): CosignerError {
  return new CosignerError('ERR_SESSION_ABORTED', 'protocol step out of order or repeated: run aborted');
}

/** What one round expects from each peer: message kinds (type bytes) sent broadcast or direct. */
export interface Expect {
  readonly type: number;
  readonly broadcast: boolean;
}

/**
 * Sorts one round's incoming messages: exactly one message of each expected kind from each peer,
 * addressed to us (or broadcast when the kind is a broadcast), nothing from anyone else. Returns
 * per peer the payloads by kind, in `kinds` order. A violation names the peer that sent (or failed
 * to send) the message.
 */
export function collect(incoming: readonly PartyMessage[], self: number, peers: readonly number[], kinds: readonly Expect[]): Map<number, Uint8Array[]> {
  // No count check up front: the loop stops at the first unexpected or repeated message, so it
  // reads at most peers × kinds + 1 of them, and the blame lands on the sender that overstepped.
  if (!Array.isArray(incoming)) throw outOfOrder();
  const out = new Map<number, (Uint8Array | undefined)[]>(peers.map((p) => [p, kinds.map(() => undefined)]));
  for (const m of incoming) {
    const from = m?.from;
    const slots = typeof from === 'number' ? out.get(from) : undefined;
    if (slots === undefined) throw cheated(typeof from === 'number' ? from : undefined, 'sender');
    if (!(m.payload instanceof Uint8Array) || m.payload.length < 2) throw cheated(from, 'length');
    const k = kinds.findIndex((x) => x.type === m.payload[1]);
    if (k < 0) throw cheated(from, 'message-type');
    const kind = kinds[k] as Expect;
    if (m.to !== (kind.broadcast ? 0 : self)) throw cheated(from, 'recipient');
    if (slots[k] !== undefined) throw cheated(from, 'duplicate');
    slots[k] = m.payload;
  }
  for (const [p, slots] of out) if (slots.some((s) => s === undefined)) throw cheated(p, 'missing');
  return out as Map<number, Uint8Array[]>;
}

/** Checks a sorted signer or participant set against a key; throws ERR_INVALID_ARGUMENT. */
export function checkSubset(set: readonly number[], all: readonly number[], self: number, min: number): number[] {
  const bad = (why: string): never => {
    throw new CosignerError('ERR_INVALID_ARGUMENT', `invalid signer set: ${why}`);
  };
  if (!Array.isArray(set)) bad('not a list');
  const sorted = [...set].sort((a, b) => a - b);
  if (sorted.length < min || sorted.length > all.length) bad('size must be between the threshold and the participant count');
  if (new Set(sorted).size !== sorted.length) bad('duplicate identifier');
  for (const s of sorted) if (!all.includes(s)) bad('not a participant of this key');
  if (!sorted.includes(self)) bad('does not include this participant');
  return sorted;
}
