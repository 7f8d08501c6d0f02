// Fixed test keys for the chain builders and the raw transaction checkers: a BIP-86 Taproot key
// (internal key, tweaked output key, and the tweaked secret standing in for the FROST group's
// signature) and an Ed25519 key. Values never change, so golden fixtures stay pinned.
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { taprootTweakPrivKey } from '@scure/btc-signer/utils.js';

export interface TaprootTestKey {
  /** Internal secret (what a single-key wallet holds; btc-signer's signIdx takes it). */
  readonly internalSecret: Uint8Array;
  /** The BIP-86-tweaked secret: signs what the threshold group's output key signs. */
  readonly outputSecret: Uint8Array;
  /** The 32-byte x-only output key: deriveKeyShare().signingPublicKey for frost-secp256k1-tr. */
  readonly outputKey: Uint8Array;
}

export function taprootKey(fill: number): TaprootTestKey {
  const internalSecret = new Uint8Array(32).fill(fill);
  const outputSecret = taprootTweakPrivKey(internalSecret);
  return { internalSecret, outputSecret, outputKey: schnorr.getPublicKey(outputSecret) };
}

export function ed25519Key(fill: number): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = new Uint8Array(32).fill(fill);
  return { secret, publicKey: ed25519.getPublicKey(secret) };
}

export const TXID_A = 'a'.repeat(64);
export const TXID_B = 'b'.repeat(64);
export const BLOCKHASH = 'EETubP5AKHgjPAhzPAFcb8BAY1hMH639CWCFTqi3hq1k';

/** A plain secp256k1 key standing in for a threshold ECDSA key: secret and 33-byte compressed key. */
export function ecdsaKey(fill: number): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = new Uint8Array(32).fill(fill);
  return { secret, publicKey: secp256k1.getPublicKey(secret, true) };
}

/** r ‖ s (low-S) and the recovery id of an ECDSA signature over a 32-byte digest, as signEntries fills them. */
export function ecdsaSign(digest: Uint8Array, secret: Uint8Array): { signature: Uint8Array; recovery: number } {
  const rec = secp256k1.sign(digest, secret, { prehash: false, lowS: true, format: 'recovered' });
  return { signature: rec.subarray(1), recovery: rec[0] as number };
}
