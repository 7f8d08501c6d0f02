// Non-hardened BIP-32 derivation of threshold ECDSA (dkls23-secp256k1) keys: CKDpub exactly, so
// the published BIP-32 vectors hold for the group key, @scure/bip32 agrees on random paths, every
// derived share signs for the derived key, and the derived record keeps its pairwise OT states.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HDKey } from '@scure/bip32';
import { deriveInternalKey, deriveKeyShare, derivePublicKey, groupXpub } from '../../../../enclave/mpc/derivation.ts';
import { finishSignature } from '../../../../enclave/mpc/ecdsa/signature.ts';
import type { EcdsaKeyShare } from '../../../../enclave/mpc/ecdsa/keygen.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { checkSignature, runEcdsaDkg, runSigning } from './helpers.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const scheme = 'dkls23-secp256k1' as const;

function fromXpub(xpub: string) {
  const k = HDKey.fromExtendedKey(xpub);
  return { scheme, groupPublicKey: hex(k.publicKey!), chainCode: hex(k.chainCode!) };
}

describe('BIP-32 CKDpub vectors 1 and 2 (non-hardened steps) on a threshold ECDSA key', () => {
  // Same published steps test/enclave/mpc/derivation-vectors.test.ts uses for taproot keys.
  const steps: [string, number, string][] = [
    ['xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw', 1, 'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ'],
    ['xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5', 2, 'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV'],
    ['xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV', 1000000000, 'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy'],
    ['xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB', 0, 'xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH'],
    ['xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a', 1, 'xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon'],
    ['xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL', 2, 'xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt'],
  ];
  it.each(steps)('%s / %i', (parent, index, child) => {
    const expected = hex(HDKey.fromExtendedKey(child).publicKey!);
    expect(hex(deriveInternalKey(fromXpub(parent), [index]))).toBe(expected);
    // No taproot tweak for ECDSA keys: the signing key is the CKDpub child itself.
    expect(hex(derivePublicKey(fromXpub(parent), [index]))).toBe(expected);
  });
});

describe('a DKLs23 key against @scure/bip32', () => {
  const keys = runEcdsaDkg(2, [1, 2, 3]);
  const hd = HDKey.fromExtendedKey(groupXpub(keys[0]!));
  const digest = new Uint8Array(32).fill(3);

  it('groupXpub is the depth-0 xpub of the group key and chain code', () => {
    expect(hex(hd.publicKey!)).toBe(keys[0]!.groupPublicKey);
    expect(hex(hd.chainCode!)).toBe(keys[0]!.chainCode);
  });

  it('derived shares match @scure/bip32 CKDpub, keep the pairwise OT states and sign (property, few runs)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { maxLength: 5 }), fc.constantFrom([1, 2], [1, 3], [2, 3]), (path, signers) => {
        const derived = keys.map((k) => deriveKeyShare(k, path).key as EcdsaKeyShare);
        const expected = hex(hd.derive(path.length ? `m/${path.join('/')}` : 'm').publicKey!);
        expect(derived[0]!.groupPublicKey).toBe(expected);
        expect(derived[1]!.ecdsa).toEqual(keys[1]!.ecdsa);
        checkSignature(runSigning(derived, [...signers], digest), digest, Buffer.from(expected, 'hex'));
      }),
      { numRuns: 5, seed: 765 },
    );
  });
});

describe('signature helper: low-S and recovery id', () => {
  it('flips the recovery bit with s and recovers the key either way', () => {
    const Fn = secp256k1.Point.Fn;
    const x = 0x1234567n;
    const pub = secp256k1.Point.BASE.multiply(x).toBytes(true);
    const digest = new Uint8Array(32).fill(5);
    const h = Fn.fromBytes(digest);
    const seen = new Set<boolean>();
    for (let k = 2n; seen.size < 2 && k < 60n; k++) {
      const R = secp256k1.Point.BASE.multiply(k);
      const r = Fn.create(R.toAffine().x);
      const s = Fn.div(Fn.add(h, Fn.mul(r, x)), k);
      seen.add(s > Fn.ORDER / 2n);
      checkSignature(finishSignature(R, r, s), digest, pub);
    }
    expect(seen.size).toBe(2); // both the high-S (flipped) and the low-S path ran
  });
});
