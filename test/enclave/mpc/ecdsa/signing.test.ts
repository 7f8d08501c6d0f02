// DKLs23 key generation and signing end to end: every signature checked by noble's verifier, by
// node:crypto (DER), and by public key recovery against the (derived) key.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createPublicKey, createHash, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { deriveKeyShare } from '../../../../enclave/mpc/derivation.ts';
import type { EcdsaKeyShare } from '../../../../enclave/mpc/ecdsa/keygen.ts';
import type { EcdsaSignature } from '../../../../enclave/mpc/ecdsa/signature.ts';
import { checkSignature, runEcdsaDkg, runParties, runSigning, signingParties, type Transcript } from './helpers.ts';

const SPKI_PREFIX = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');

/** node:crypto over a message whose SHA-256 is the digest (Node hashes the message itself). */
function nodeVerifies(sig: EcdsaSignature, message: Buffer, publicKey: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return nodeVerify('sha256', message, key, sig.der);
}

function derived(keys: EcdsaKeyShare[], path: number[]): EcdsaKeyShare[] {
  return keys.map((k) => deriveKeyShare(k, path).key as EcdsaKeyShare);
}

const configs: [number, number[]][] = [
  [2, [1, 2]],
  [2, [1, 2, 3]],
  [3, [1, 2, 3]],
];

describe.each(configs)('%i-of-%j', (t, participants) => {
  const keys = runEcdsaDkg(t, participants);
  const subsets = participants.length === 3 && t === 2 ? [[1, 2], [1, 3], [2, 3], [1, 2, 3]] : [participants];

  it('key generation agrees on the key, chain code and verifying shares; records carry pairwise states', () => {
    for (const k of keys) {
      expect(k.scheme).toBe('dkls23-secp256k1');
      expect(k.keyId).toBe(keys[0]!.keyId);
      expect(k.groupPublicKey).toBe(keys[0]!.groupPublicKey);
      expect(k.chainCode).toBe(keys[0]!.chainCode);
      expect(k.verifyingShares).toEqual(keys[0]!.verifyingShares);
      expect(Object.keys(k.ecdsa.pairwise).sort()).toEqual(participants.filter((p) => p !== k.identifier).map(String).sort());
      const share = BigInt('0x' + k.secretShare);
      expect(secp256k1.Point.BASE.multiply(share).toHex(true)).toBe(k.verifyingShares[String(k.identifier)]);
    }
  });

  it.each(subsets)('signers %j sign a SHA-256 digest every verifier accepts (root and derived key)', (...signers) => {
    const message = Buffer.from(`pay 1 ETH ${signers.join(',')}`);
    const digest = Uint8Array.from(createHash('sha256').update(message).digest());
    for (const path of [[], [44, 60, 0, 0, 7]]) {
      const ks = derived(keys, path);
      const pub = Buffer.from(ks[0]!.groupPublicKey, 'hex');
      const sig = runSigning(ks, signers, digest);
      checkSignature(sig, digest, pub);
      expect(nodeVerifies(sig, message, pub)).toBe(true);
    }
  });
});

describe('property: random signer subsets and paths (2-of-3 and 3-of-4)', () => {
  const keys23 = runEcdsaDkg(2, [1, 2, 3]);
  const keys34 = runEcdsaDkg(3, [1, 2, 4, 9]);
  it('every signature verifies under the derived key', () => {
    const subsetOf = (all: number[], t: number) => fc.subarray(all, { minLength: t });
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { maxLength: 4 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.context(),
        (small, path, digest, ctx) => {
          const [keys, all, t] = small ? [keys23, [1, 2, 3], 2] : [keys34, [1, 2, 4, 9], 3];
          const signers = fc.sample(subsetOf(all, t), 1)[0] as number[];
          ctx.log(JSON.stringify(signers));
          const ks = derived(keys, path);
          checkSignature(runSigning(ks, signers, digest), digest, Buffer.from(ks[0]!.groupPublicKey, 'hex'));
        },
      ),
      { numRuns: 8, seed: 20231765 },
    );
  });
});

describe('worker-friendly: inputs, messages and results are plain structured-clone data', () => {
  it('a run whose every message and the key records cross a structured clone (as postMessage does) signs', () => {
    const keys = runEcdsaDkg(2, [1, 2]).map((k) => structuredClone(k));
    const digest = new Uint8Array(32).fill(1);
    const sig = runSigning(keys, [1, 2], digest, (_r, m) => {
      const c = structuredClone(m);
      expect(c.payload).toBeInstanceOf(Uint8Array);
      return c;
    });
    const cloned = structuredClone(sig);
    expect(cloned).toEqual(sig);
    checkSignature(cloned, digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'));
  });
});

describe('sizes: 16 participants', () => {
  // Message sizes do not grow with n (only the DKG broadcast grows with t, 33 bytes a step): one
  // 3-of-16 key generation and a 3-signer run show the fixed sizes; docs/ecdsa.md has the table.
  it('key generation (3-of-16) and signing keep every message at its fixed size, far below the 256 KiB frame', () => {
    const all = Array.from({ length: 16 }, (_, i) => i + 1);
    const dkgT: Transcript = [];
    const keys = runEcdsaDkg(3, all, undefined, dkgT);
    const signT: Transcript = [];
    const digest = new Uint8Array(32).fill(2);
    const sig = runParties(signingParties(keys, [2, 9, 16], digest), undefined, signT)[0]!;
    checkSignature(sig, digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'));
    // With the test stand-in's OT blobs (setup 32, msg1 64, msg2 96 bytes):
    expect(new Set(dkgT.map((m) => m.payload.length))).toEqual(new Set([2 + 33 * 3 + 97, 2 + 64 + 32]));
    expect(new Set(signT.map((m) => m.payload.length))).toEqual(new Set([66, 34 + 64, 230 + 96, 98]));
  });
});
