// Runs in the enclave and in the reference coordinator. The derivation-related parts of a DKG
// (docs/derivation.md): the chain code every participant agrees by commit–reveal, and the
// untweaked BIP-86 internal key of a taproot DKG (noble tweaks taproot DKG output itself).
import { createHash } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { ThresholdScheme } from '../vault/records.ts';
import { bip86Tweak, tweakPoint, tweakScalar } from './derivation-math.ts';

const COMMIT_TAG = 'nitro-cosigner/dkg/chain-code-commitment/v1';
const CHAIN_TAG = 'nitro-cosigner/dkg/chain-code/v1';

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/**
 * The round-1 commitment to a chain-code contribution: SHA-256(tag ‖ 0 ‖ scheme ‖ 0 ‖ id (u16 BE)
 * ‖ first commitment point ‖ contribution), hex. The identifier stops a participant from copying
 * another's commitment and revealing its value; the point ties it to this DKG, so a reveal
 * replayed from another session does not open it.
 */
export function chainCodeCommitment(scheme: ThresholdScheme, identifier: number, firstPoint: Uint8Array, contribution: Uint8Array): string {
  return createHash('sha256')
    .update(COMMIT_TAG)
    .update(Buffer.of(0))
    .update(scheme)
    .update(Buffer.of(0))
    .update(u16(identifier))
    .update(firstPoint)
    .update(contribution)
    .digest('hex');
}

/**
 * The key's chain code: SHA-256(tag ‖ 0 ‖ scheme ‖ 0 ‖ (id ‖ contribution) for every participant
 * in increasing identifier order), hex. Uniform as long as one contribution is (each was fixed by
 * its commitment before any was revealed).
 */
export function combineChainCode(scheme: ThresholdScheme, contributions: ReadonlyMap<number, Uint8Array>): string {
  const h = createHash('sha256').update(CHAIN_TAG).update(Buffer.of(0)).update(scheme).update(Buffer.of(0));
  for (const id of [...contributions.keys()].sort((a, b) => a - b)) h.update(u16(id)).update(contributions.get(id) as Uint8Array);
  return h.digest('hex');
}

/**
 * Undoes @noble/curves' automatic BIP-86 tweak of a taproot DKG result. The untweaked group key P
 * is the sum of every participant's first commitment point; noble normalised it to even y and
 * added t·G, t = TapTweak(x(P)), to the key, every verifying share and our share (after negating
 * them with P if P had odd y). Subtracting t leaves the shares of the even-y internal key. Throws
 * if noble's output is not exactly that (fail closed rather than store a key we cannot explain).
 */
export function untweakTaprootDkg(
  firstPoints: readonly Uint8Array[],
  tweakedGroup: Uint8Array,
  tweakedShare: Uint8Array,
  tweakedVerifying: Readonly<Record<string, Uint8Array>>,
): { group: Uint8Array; secretShare: Uint8Array; verifying: Record<string, Uint8Array> } {
  const Point = secp256k1.Point;
  let sum = Point.ZERO;
  for (const c of firstPoints) sum = sum.add(Point.fromBytes(c));
  if (sum.is0()) throw new Error('DKG group key is the identity');
  const tr = bip86Tweak(sum.toBytes(true));
  if (!Point.fromBytes(tr.output).equals(Point.fromBytes(tweakedGroup))) throw new Error('DKG output is not the BIP-86 tweak of the commitments');
  const minusT = Point.Fn.neg(tr.tweak);
  const group = (tr.negate ? sum.negate() : sum).toBytes(true);
  const verifying: Record<string, Uint8Array> = {};
  for (const [id, v] of Object.entries(tweakedVerifying)) verifying[id] = tweakPoint('frost-secp256k1-tr', v, false, minusT);
  return { group, secretShare: tweakScalar('frost-secp256k1-tr', tweakedShare, false, minusT), verifying };
}
