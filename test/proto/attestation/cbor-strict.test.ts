import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { assertPlainCbor } from '../../../proto/attestation/cbor-strict.ts';

const limits = { maxDepth: 3, maxItems: 16, topLevelTags: [18], code: 'ERR_ATTESTATION_MALFORMED' as const, what: 'test' };
const ok = (hex: string): void => assertPlainCbor(Buffer.from(hex, 'hex'), limits);
const bad = (hex: string): void => {
  expect(() => ok(hex)).toThrow(CosignerError);
};

describe('plain CBOR gate', () => {
  it('accepts the subset an attestation document uses', () => {
    ok('84' + '44a1013822' + 'a0' + '43010203' + '40'); // [h'a1013822', {}, h'010203', h'']
    ok('d284' + '40a04040'); // tag 18 at the top
    ok('a2616101617af6'); // {"a": 1, "z": null}
    ok('1b0000018c4b6b2f70'); // uint64 timestamp
    ok('83f4f520'); // [false, true, -1]
  });

  it('rejects indefinite lengths, floats, undefined, nested or other tags, trailing and truncated data', () => {
    bad('9f01ff'); // indefinite array
    bad('5f4101ff'); // indefinite bytes
    bad('fb3ff0000000000000'); // float64
    bad('f7'); // undefined
    bad('f0'); // simple(16)
    bad('c11a00000000'); // tag 1 at the top
    bad('81d24100'); // tag 18 nested
    bad('0100'); // trailing byte
    bad('43 0102'.replace(' ', '')); // truncated byte string
    bad('1c'); // reserved additional info
    bad('62c328'); // invalid UTF-8 text
    bad('1b0020000000000000'); // integer beyond 2^53
  });

  it('enforces depth and item limits, and lengths that exceed the input', () => {
    bad('81818181' + '01'); // depth 4 > 3
    bad('90' + '01'.repeat(16)); // 17 items > 16
    bad('9a7fffffff'); // array claiming 2^31 entries in 5 bytes
    bad('bb00000000ffffffff'); // map with a huge count
    expect(() => assertPlainCbor(new Uint8Array(0), limits)).toThrow(CosignerError);
  });

  it('rejects duplicate map keys, at the top and nested inside the payload, however the key is written', () => {
    ok('a2616101616202'); // {"a": 1, "b": 2}: distinct keys pass
    ok('a201010202'); // {1: 1, 2: 2}
    bad('a2616101616102'); // {"a": 1, "a": 2}
    bad('a201010102'); // {1: 1, 1: 2}
    bad('a20101180102'); // {1: 1, 1 (two-byte head): 2}
    bad('a2616101780161' + '02'); // {"a": 1, "a" (one-byte length head): 2}
    bad('a2410001410002'); // {h'00': 1, h'00': 2}
    // [h'…', {"p": {"k": 1, "k": 2}}]: a duplicate two maps deep, as inside an attestation payload.
    bad('8241ff' + 'a16170' + 'a2616b01616b02');
    ok('8241ff' + 'a16170' + 'a2616b01616c02');
    // Equal keys in different maps are not duplicates.
    ok('82' + 'a1616b01' + 'a1616b02');
    // The refusal is a typed error with the caller's code.
    try {
      ok('a2616101616102');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CosignerError);
      expect((err as CosignerError).code).toBe('ERR_ATTESTATION_MALFORMED');
      expect((err as CosignerError).message).toMatch(/duplicate map key/);
    }
  });
});
