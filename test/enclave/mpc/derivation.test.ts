import { describe, expect, it } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr } from '@noble/curves/secp256k1.js';
import { p2tr } from '@scure/btc-signer';
import { checkDerivationPath, deriveInternalKey, deriveKeyShare, derivedKeyId, derivePublicKey, formatDerivationPath, parseDerivationPath } from '../../../enclave/mpc/derivation.ts';
import { identifierOf, suiteFor, verifierPublicKey, verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import { rejects, runDkg, sign } from './helpers.ts';
import type { KeyShareRecord } from '../../../enclave/vault/records.ts';

describe('derivation paths', () => {
  it('parses the handler-facing text form and prints it back the published way', () => {
    expect(parseDerivationPath('[ 44, 0, 0, 0, 0 ]')).toEqual([44, 0, 0, 0, 0]);
    expect(parseDerivationPath('[44,501,3,0,7]')).toEqual([44, 501, 3, 0, 7]);
    expect(parseDerivationPath('[ ]')).toEqual([]);
    expect(formatDerivationPath([44, 60, 0, 0, 0])).toBe('[ 44, 60, 0, 0, 0 ]');
    expect(formatDerivationPath([])).toBe('[ ]');
    expect(derivedKeyId('k', [44, 0, 1])).toBe('k/44/0/1');
    expect(derivedKeyId('k', [])).toBe('k');
  });

  it.each(['44,0', '[ 44, -1 ]', '[ 2147483648 ]', '[ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 ]', '[ 0x10 ]', 7])('refuses %s', (bad) => {
    expect(() => parseDerivationPath(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('refuses hardened, fractional and non-array paths', () => {
    for (const bad of [[0x80000000], [1.5], 'x', [Number.NaN]]) expect(() => checkDerivationPath(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

const msg = new TextEncoder().encode('nitro-cosigner derived signing');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const paths: number[][] = [[], [44, 0, 0, 0, 0], [44, 501, 3, 0, 7], [0x7fffffff]];

describe('keys without a chain code (made before derivation existed)', () => {
  it.each(['frost-ed25519', 'frost-secp256k1-tr'] as const)('%s: sign with the root key and refuse every other path', (scheme) => {
    // A legacy record is a DKG record without the chainCode field (for taproot noble's tweaked
    // output; any group key signs as stored, which is what legacy keys keep doing).
    const legacy = runDkg(scheme, 2, [1, 2]).map(({ chainCode: _c, ...k }) => k as KeyShareRecord);
    const a = legacy[0]!;
    const root = deriveKeyShare(a, []);
    expect(root.key).toBe(a);
    expect(hex(root.signingPublicKey)).toBe(hex(verifierPublicKey(scheme, Buffer.from(a.groupPublicKey, 'hex'))));
    expect(hex(derivePublicKey(a, []))).toBe(hex(root.signingPublicKey));
    const sig = sign(legacy.map((k) => deriveKeyShare(k, []).key), [1, 2], msg);
    expect(verifyWithStandardVerifier(scheme, root.signingPublicKey, msg, sig)).toBe(true);
    rejects(() => deriveKeyShare(a, [44, 501, 0, 0, 0]), 'ERR_DERIVATION_UNSUPPORTED', { keyId: a.keyId });
    rejects(() => derivePublicKey(a, [0]), 'ERR_DERIVATION_UNSUPPORTED');
    rejects(() => deriveInternalKey(a, []), 'ERR_DERIVATION_UNSUPPORTED');
  });
});

describe.each(['frost-ed25519', 'frost-secp256k1-tr'] as const)('derived %s shares', (scheme) => {
  const keys23 = runDkg(scheme, 2, [1, 2, 3]);
  const keys22 = runDkg(scheme, 2, [1, 2]);

  it('2-of-2 and every 2-signer subset of 2-of-3 sign for the derived key at several paths', () => {
    for (const path of paths) {
      const pub = derivePublicKey(keys23[0]!, path);
      for (const signers of [[1, 2], [1, 3], [2, 3]]) {
        const derived = keys23.map((k) => deriveKeyShare(k, path));
        expect(derived.every((d) => hex(d.signingPublicKey) === hex(pub))).toBe(true);
        expect(derived[0]!.key.keyId).toBe(derivedKeyId(keys23[0]!.keyId, path));
        const sig = sign(derived.map((d) => d.key), signers, msg, `s-${signers.join('')}`);
        expect(verifyWithStandardVerifier(scheme, pub, msg, sig)).toBe(true);
        if (scheme === 'frost-secp256k1-tr') {
          expect(schnorr.verify(sig, msg, pub)).toBe(true);
          expect(hex(pub)).toBe(hex(p2tr(deriveInternalKey(keys23[0]!, path).subarray(1)).tweakedPubkey));
        }
      }
      const two = keys22.map((k) => deriveKeyShare(k, path).key);
      expect(verifyWithStandardVerifier(scheme, derivePublicKey(keys22[0]!, path), msg, sign(two, [1, 2], msg))).toBe(true);
    }
  });

  it('different paths give different keys; the derived share cannot be derived further', () => {
    const a = deriveKeyShare(keys22[0]!, [44, 0, 0, 0, 0]);
    const b = deriveKeyShare(keys22[0]!, [44, 0, 0, 0, 1]);
    expect(hex(a.signingPublicKey)).not.toBe(hex(b.signingPublicKey));
    expect(a.key.chainCode).toBeUndefined();
    expect(() => deriveKeyShare(a.key as KeyShareRecord, [1])).toThrow(expect.objectContaining({ code: 'ERR_DERIVATION_UNSUPPORTED' }));
  });

  it('a share derived for one path does not sign for another path (signature fails verification)', () => {
    const mixed = [deriveKeyShare(keys22[0]!, [1]).key, deriveKeyShare(keys22[1]!, [2]).key];
    expect(() => sign(mixed, [1, 2], msg)).toThrow();
  });

  it('a malformed sealed chain code is refused, not ignored', () => {
    for (const chainCode of ['', 'zz'.repeat(32), 'AB'.repeat(32), '00'.repeat(31)]) {
      rejects(() => deriveKeyShare({ ...keys22[0]!, chainCode }, [0]), 'ERR_SECRETS_DB_CORRUPT');
    }
  });
});

describe('chain-coded taproot root', () => {
  it('the root path is the BIP-86 output key of the stored (even-y, untweaked) internal key', () => {
    const keys = runDkg('frost-secp256k1-tr', 2, [1, 2]);
    expect(keys[0]!.groupPublicKey.startsWith('02')).toBe(true);
    const root = keys.map((k) => deriveKeyShare(k, []));
    expect(hex(root[0]!.signingPublicKey)).toBe(hex(p2tr(Buffer.from(keys[0]!.groupPublicKey, 'hex').subarray(1)).tweakedPubkey));
    expect(schnorr.verify(sign(root.map((r) => r.key), [1, 2], msg), msg, root[0]!.signingPublicKey)).toBe(true);
  });
});

describe('Ed25519 derivation against an independent computation', () => {
  const Fn = ed25519.Point.Fn;
  const suite = suiteFor('frost-ed25519');
  const le = (b: Uint8Array): bigint => BigInt(`0x${hex(Uint8Array.from(b).reverse()) || '0'}`);
  const ser32 = (i: number): Buffer => Buffer.from([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255]);
  const hmac = (key: Buffer, ...data: Buffer[]): Buffer => createHmac('sha512', key).update(Buffer.concat(data)).digest();

  /** docs/derivation.md, written out again with node:crypto: the secret scalar at `path`. */
  function deriveSecret(x: bigint, chainCode: Buffer, path: number[]): bigint {
    let c = chainCode;
    for (const i of path) {
      const A = Buffer.from(ed25519.Point.BASE.multiply(x).toBytes());
      const il = le(hmac(c, Buffer.from('nitro-cosigner/ed25519-ckd/tweak/v1'), A, ser32(i))) % Fn.ORDER;
      c = hmac(c, Buffer.from('nitro-cosigner/ed25519-ckd/chain/v1'), A, ser32(i)).subarray(0, 32);
      x = Fn.add(x, il);
    }
    return x;
  }

  it('a trusted-dealer key whose secret the test knows: derived public keys and signatures agree', () => {
    const x = Fn.create(le(randomBytes(64)));
    const chainCode = randomBytes(32);
    const ids = [1, 2, 3].map((n) => identifierOf(suite, n));
    const deal = suite.trustedDealer({ min: 2, max: 3 }, ids, Fn.toBytes(x));
    const verifyingShares = Object.fromEntries([1, 2, 3].map((n) => [String(n), hex(deal.public.verifyingShares[ids[n - 1]!]!)]));
    const keys: KeyShareRecord[] = [1, 2, 3].map((n) => ({
      keyId: 'dealer', scheme: 'frost-ed25519', threshold: 2, participants: [1, 2, 3], identifier: n, createdAt: 1,
      secretShare: hex(deal.secretShares[ids[n - 1]!]!.signingShare), groupPublicKey: hex(deal.public.commitments[0]!), verifyingShares, chainCode: hex(chainCode),
    }));
    for (const path of [[0], [44, 501, 0, 0, 0], [7, 0x7fffffff, 3]]) {
      const expected = ed25519.Point.BASE.multiply(deriveSecret(x, chainCode, path)).toBytes();
      expect(hex(derivePublicKey(keys[0]!, path))).toBe(hex(expected));
      const sig = sign(keys.map((k) => deriveKeyShare(k, path).key), [1, 3], msg);
      expect(verifyWithStandardVerifier('frost-ed25519', expected, msg, sig)).toBe(true);
    }
  });
});
