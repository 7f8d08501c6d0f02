// The Ed25519 suite remembers validated points (per point object, and pinned key material by exact
// encoding). These tests prove the memory never lets an unchecked point through: a point with a
// torsion component is rejected wherever it appears, however often its clean twin was accepted.
import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { aggregateSignature } from '../../../local/coordinator/aggregate.ts';
import { FrostSigningSession, type WireCommitment } from '../../../enclave/mpc/signing-session.ts';
import { isValidElement, pinKeyPoint, suiteFor, verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import { runDkg, sign } from './helpers.ts';

const msg = new TextEncoder().encode('suite cache test');
// A point of order 8 (RFC 8032 small-order list); adding it to a valid point leaves the curve
// equation satisfied but puts the result outside the prime-order subgroup.
const ORDER8 = ed25519.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
const dirty = (hex: string): string => ed25519.Point.fromHex(hex).add(ORDER8).toHex();

function session(key: ReturnType<typeof runDkg>[number], sessionId: string) {
  return new FrostSigningSession({ sessionId, key, message: msg, signers: [1, 2] });
}

function expectCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toMatchObject({ code });
}

describe('frost-ed25519 validated-point memory', () => {
  const keys = runDkg('frost-ed25519', 2, [1, 2]);

  it('still signs and verifies with pinned key points, repeatedly', () => {
    for (let i = 0; i < 3; i++) {
      const sig = sign(keys, [1, 2], msg, `ok${i}`);
      expect(verifyWithStandardVerifier('frost-ed25519', Buffer.from(keys[0]!.groupPublicKey, 'hex'), msg, sig)).toBe(true);
    }
  });

  it('rejects a commitment with a torsion component after its clean twin was accepted', () => {
    const [a, b] = [session(keys[0]!, 't1'), session(keys[1]!, 't1')];
    const list: WireCommitment[] = [a.commit(), b.commit()];
    // the clean commitment is decoded and accepted by b first
    b.sign(list, b.binding);
    const bad = dirty(list[1]!.binding);
    expect(isValidElement('frost-ed25519', Buffer.from(bad, 'hex'))).toBe(false);
    expectCode(() => a.sign([list[0]!, { ...list[1]!, binding: bad }], a.binding), 'ERR_BAD_SHARE');
    expect(a.state).toBe('aborted');
  });

  it('aggregation rejects a torsion commitment even when every other point is known', () => {
    const [a, b] = [session(keys[0]!, 't2'), session(keys[1]!, 't2')];
    const list: WireCommitment[] = [a.commit(), b.commit()];
    const shares = { 1: a.sign(list, a.binding), 2: b.sign(list, b.binding) };
    expect(aggregateSignature(keys[0]!, msg, list, shares)).toHaveLength(64);
    const tampered = [list[0]!, { ...list[1]!, hiding: dirty(list[1]!.hiding) }];
    expectCode(() => aggregateSignature(keys[0]!, msg, tampered, shares), 'ERR_BAD_SHARE');
  });

  it('never pins an invalid key point, and a key record carrying one cannot sign', () => {
    const badGpk = dirty(keys[0]!.groupPublicKey);
    pinKeyPoint('frost-ed25519', badGpk);
    pinKeyPoint('frost-ed25519', badGpk);
    const forged = { ...keys[0]!, groupPublicKey: badGpk };
    expect(() => suiteFor('frost-ed25519').verify(new Uint8Array(64), msg, Buffer.from(badGpk, 'hex'))).toThrow();
    for (let i = 0; i < 2; i++) {
      const [a, b] = [session(forged, `f${i}`), session(keys[1]!, `f${i}`)];
      const list = [a.commit(), b.commit()];
      expectCode(() => a.sign(list, a.binding), 'ERR_SESSION_ABORTED');
    }
  });
});
