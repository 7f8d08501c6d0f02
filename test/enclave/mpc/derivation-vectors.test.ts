// Published vectors and an independent implementation for secp256k1 derivation: BIP-32 CKDpub
// (test vectors 1 and 2, the non-hardened steps), BIP-86 (account xpub → receive/change keys),
// and property tests against @scure/bip32 on random non-hardened paths.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HDKey } from '@scure/bip32';
import { p2tr } from '@scure/btc-signer';
import { deriveInternalKey, derivePublicKey, groupXpub } from '../../../enclave/mpc/derivation.ts';
import { rejects, runDkg } from './helpers.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The public parts of an xpub as a chain-coded taproot key (groupPublicKey = its compressed key). */
function fromXpub(xpub: string) {
  const k = HDKey.fromExtendedKey(xpub);
  return { scheme: 'frost-secp256k1-tr' as const, groupPublicKey: hex(k.publicKey!), chainCode: hex(k.chainCode!) };
}

describe('BIP-32 CKDpub (bip-0032.mediawiki test vectors, non-hardened steps)', () => {
  // [parent xpub, index, child xpub]
  const steps: [string, number, string][] = [
    // vector 1: m/0H → m/0H/1, m/0H/1/2H → m/0H/1/2H/2 → m/0H/1/2H/2/1000000000
    ['xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw', 1, 'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ'],
    ['xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5', 2, 'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV'],
    ['xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV', 1000000000, 'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy'],
    // vector 2: m → m/0, m/0/2147483647H → m/0/2147483647H/1, m/0/2147483647H/1/2147483646H → …/2
    ['xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB', 0, 'xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH'],
    ['xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a', 1, 'xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon'],
    ['xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL', 2, 'xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt'],
  ];
  it.each(steps)('%s / %i', (parent, index, child) => {
    expect(hex(deriveInternalKey(fromXpub(parent), [index]))).toBe(hex(HDKey.fromExtendedKey(child).publicKey!));
  });

  it('two levels at once equal the published grandchild (vector 1: m/0H/1/2H → /2/1000000000)', () => {
    const parent = fromXpub(steps[1]![0]);
    expect(hex(deriveInternalKey(parent, [2, 1000000000]))).toBe(hex(HDKey.fromExtendedKey(steps[2]![2]).publicKey!));
  });
});

describe('BIP-86 (bip-0086.mediawiki, account 0 = m/86\'/0\'/0\')', () => {
  const account = fromXpub('xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ');
  it.each([
    [[0, 0], 'cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115', 'a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c'],
    [[0, 1], '83dfe85a3151d2517290da461fe2815591ef69f2b18a2ce63f01697a8b313145', 'a82f29944d65b86ae6b5e5cc75e294ead6c59391a1edc5e016e3498c67fc7bbb'],
    [[1, 0], '399f1b2f4393f29a18c937859c5dd8a77350103157eb880f02e8c08214277cef', '882d74e5d0572d5a816cef0041a96b6c1de832f6f9676d9605c44d5e9a97d3dc'],
  ])('path %j: internal and output key', (path, internal, output) => {
    expect(hex(deriveInternalKey(account, path)).slice(2)).toBe(internal);
    expect(hex(derivePublicKey(account, path))).toBe(output);
  });
});

describe('a DKG taproot key against @scure/bip32 and @scure/btc-signer', () => {
  const [key] = runDkg('frost-secp256k1-tr', 2, [1, 2]);
  const xpub = groupXpub(key!);
  const path = fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { maxLength: 6 });

  it('groupXpub is a depth-0 mainnet xpub of the internal key and chain code', () => {
    const hd = HDKey.fromExtendedKey(xpub);
    expect(xpub.startsWith('xpub')).toBe(true);
    expect(hd.depth).toBe(0);
    expect(hex(hd.publicKey!)).toBe(key!.groupPublicKey);
    expect(hex(hd.chainCode!)).toBe(key!.chainCode);
  });

  it('random non-hardened paths: derivePublicKey is the BIP-86 key of HDKey.derive', () => {
    fc.assert(
      fc.property(path, (p) => {
        let hd = HDKey.fromExtendedKey(xpub);
        for (const i of p) hd = hd.deriveChild(i);
        expect(hex(deriveInternalKey(key!, p))).toBe(hex(hd.publicKey!));
        expect(hex(derivePublicKey(key!, p))).toBe(hex(p2tr(hd.publicKey!.subarray(1)).tweakedPubkey));
      }),
      { numRuns: 25, seed: 86 },
    );
  });

  it('refuses malformed chain codes and an xpub of an Ed25519 key', () => {
    rejects(() => derivePublicKey({ ...key!, chainCode: 'ab' }, [0]), 'ERR_INVALID_ARGUMENT');
    rejects(() => derivePublicKey({ ...key!, chainCode: key!.chainCode!.toUpperCase() }, [0]), 'ERR_INVALID_ARGUMENT');
    rejects(() => groupXpub({ scheme: 'frost-ed25519', groupPublicKey: '00'.repeat(32), chainCode: '00'.repeat(32) }), 'ERR_DERIVATION_UNSUPPORTED');
  });
});
