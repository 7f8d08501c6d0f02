import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { aggregateSignature } from '../../../local/coordinator/aggregate.ts';
import { FrostSigningSession, messageDigest, type WireCommitment } from '../../../enclave/mpc/signing-session.ts';
import { SessionRegistry } from '../../../enclave/mpc/sessions.ts';
import { verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import type { Clock } from '../../../proto/ports.ts';
import type { KeyShareRecord, ThresholdScheme } from '../../../enclave/vault/records.ts';
import { rejects, runDkg, sign } from './helpers.ts';

const schemes: ThresholdScheme[] = ['frost-ed25519', 'frost-secp256k1-tr'];
const msg = new TextEncoder().encode('pay 1 BTC to bc1q...');

function manualClock(start = 1_000): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, sleep: async () => undefined, advance: (ms) => void (t += ms) };
}

const keysBy = new Map<ThresholdScheme, KeyShareRecord[]>();
function keys(scheme: ThresholdScheme): KeyShareRecord[] {
  let k = keysBy.get(scheme);
  if (!k) keysBy.set(scheme, (k = runDkg(scheme, 2, [1, 2, 3])));
  return k;
}

function pair(scheme: ThresholdScheme, message = msg) {
  const [a, b] = keys(scheme);
  const sa = new FrostSigningSession({ sessionId: 'x1', key: a!, message, signers: [1, 2] });
  const sb = new FrostSigningSession({ sessionId: 'x1', key: b!, message, signers: [1, 2] });
  const list: WireCommitment[] = [sa.commit(), sb.commit()];
  return { a: a!, b: b!, sa, sb, list };
}

describe.each(schemes)('signing session %s', (scheme) => {
  it('a second round 2 with the same nonces is refused (ERR_NONCE_REUSE)', () => {
    const { sa, list } = pair(scheme);
    sa.sign(list, sa.binding);
    rejects(() => sa.sign(list, sa.binding), 'ERR_NONCE_REUSE');
    rejects(() => sa.commit(), 'ERR_NONCE_REUSE');
  });

  it('own commitment missing or altered aborts the session', () => {
    const { sa, sb, list } = pair(scheme);
    const other = pair(scheme).list[0]!;
    rejects(() => sa.sign([other, list[1]!], sa.binding), 'ERR_SESSION_ABORTED');
    rejects(() => sa.sign(list, sa.binding), 'ERR_SESSION_ABORTED'); // nonces destroyed
    rejects(() => sb.sign([list[1]!], sb.binding), 'ERR_SESSION_ABORTED');
  });

  it('identity or invalid peer points are blamed on the peer', () => {
    const { sa, list } = pair(scheme);
    const bad = scheme === 'frost-ed25519' ? '01' + '00'.repeat(31) : '02' + 'ff'.repeat(32);
    rejects(() => sa.sign([list[0]!, { ...list[1]!, hiding: bad }], sa.binding), 'ERR_BAD_SHARE', { identifier: 2 });
    const { sa: s2, list: l2 } = pair(scheme);
    // a small-order (torsion) point on Ed25519 / a malformed one on secp256k1
    const torsion = scheme === 'frost-ed25519' ? 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' : '05' + '11'.repeat(32);
    rejects(() => s2.sign([l2[0]!, { ...l2[1]!, binding: torsion }], s2.binding), 'ERR_BAD_SHARE', { identifier: 2 });
  });

  it('duplicate identifiers and foreign signers abort the session', () => {
    const { sa, list } = pair(scheme);
    rejects(() => sa.sign([list[0]!, list[0]!], sa.binding), 'ERR_SESSION_ABORTED');
    const { sa: s2, list: l2 } = pair(scheme);
    rejects(() => s2.sign([l2[0]!, { ...l2[1]!, identifier: 3 }], s2.binding), 'ERR_SESSION_ABORTED');
    rejects(() => new FrostSigningSession({ sessionId: 'd', key: keys(scheme)[0]!, message: msg, signers: [1, 1] }), 'ERR_INVALID_ARGUMENT');
    rejects(() => new FrostSigningSession({ sessionId: 'd', key: keys(scheme)[0]!, message: msg, signers: [2, 3] }), 'ERR_INVALID_ARGUMENT');
  });

  it('round 2 before round 1, or for a different message or session, aborts', () => {
    const [a] = keys(scheme);
    const s = new FrostSigningSession({ sessionId: 'y', key: a!, message: msg, signers: [1, 2] });
    rejects(() => s.sign([], s.binding), 'ERR_SESSION_ABORTED');
    const { sa, list } = pair(scheme);
    rejects(() => sa.sign(list, { ...sa.binding, messageDigest: messageDigest(new TextEncoder().encode('pay 9 BTC')) }), 'ERR_MESSAGE_MISMATCH');
    const { sb, list: l2 } = pair(scheme);
    rejects(() => sb.sign(l2, { ...sb.binding, sessionId: 'other' }), 'ERR_SESSION_ABORTED');
  });

  it('a bad peer signature share is identified at aggregation', () => {
    const { a, sa, sb, list } = pair(scheme);
    const shares = { 1: sa.sign(list, sa.binding), 2: sb.sign(list, sb.binding) };
    const tampered = { ...shares, 2: (BigInt('0x' + shares[2]) ^ 1n).toString(16).padStart(64, '0') };
    rejects(() => aggregateSignature(a, msg, list, tampered), 'ERR_BAD_SHARE', { identifier: 2 });
    const sig = aggregateSignature(a, msg, list, shares);
    expect(verifyWithStandardVerifier(scheme, Buffer.from(a.groupPublicKey, 'hex'), msg, sig)).toBe(true);
  });

  it('random t-of-n key sets and signer subsets all produce verifying signatures', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 4 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 2, max: n }), fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.shuffledSubarray([...Array(n).keys()].map((i) => i + 1), { minLength: n, maxLength: n }))),
        ([n, t, message, order]) => {
          const participants = [...Array(n).keys()].map((i) => i * 3 + 1); // non-contiguous ids
          const all = runDkg(scheme, t, participants);
          const signers = order.slice(0, t).map((i) => participants[i - 1]!);
          const sig = sign(all, signers, message);
          expect(verifyWithStandardVerifier(scheme, Buffer.from(all[0]!.groupPublicKey, 'hex'), message, sig)).toBe(true);
        },
      ),
      { numRuns: 4, seed: 424242 },
    );
  });
});

describe('session registry', () => {
  it('a restart (new registry) aborts open sessions: round 2 finds nothing', () => {
    const clock = manualClock();
    const [a, b] = keys('frost-ed25519');
    const before = new SessionRegistry({ clock });
    const { commitment, binding } = before.begin('r1', a!, msg, [1, 2]);
    const peer = new FrostSigningSession({ sessionId: 'r1', key: b!, message: msg, signers: [1, 2] });
    const list = [commitment, peer.commit()];
    const after = new SessionRegistry({ clock }); // the enclave restarted: memory is gone
    rejects(() => after.sign('r1', { keyId: a!.keyId, messageDigest: binding.messageDigest }, list), 'ERR_SESSION_NOT_FOUND');
    before.abortAll();
    rejects(() => before.sign('r1', { keyId: a!.keyId, messageDigest: binding.messageDigest }, list), 'ERR_NONCE_REUSE');
  });

  it('an abort that arrives before its session opened (approval still running) keeps it from opening', () => {
    const [a] = keys('frost-ed25519');
    const reg = new SessionRegistry({ clock: manualClock() });
    reg.abort('late');
    rejects(() => reg.begin('late', a!, msg, [1, 2]), 'ERR_SESSION_ABORTED');
    expect(reg.size).toBe(0);
    reg.begin('open', a!, msg, [1, 2]);
    reg.abort('open');
    expect(reg.size).toBe(0);
  });

  it('refuses a reused session id, a replayed round 2, expired sessions and too many sessions', () => {
    const clock = manualClock();
    const [a, b] = keys('frost-ed25519');
    const reg = new SessionRegistry({ clock, maxOpen: 2, ttlMs: 1000 });
    const { commitment, binding } = reg.begin('s', a!, msg, [1, 2]);
    const peer = new FrostSigningSession({ sessionId: 's', key: b!, message: msg, signers: [1, 2] });
    const list = [commitment, peer.commit()];
    expect(reg.sign('s', { keyId: a!.keyId, messageDigest: binding.messageDigest }, list)).toMatch(/^[0-9a-f]{64}$/);
    rejects(() => reg.sign('s', { keyId: a!.keyId, messageDigest: binding.messageDigest }, list), 'ERR_NONCE_REUSE');
    rejects(() => reg.begin('s', a!, msg, [1, 2]), 'ERR_SESSION_ABORTED');
    reg.begin('t1', a!, msg, [1, 2]);
    reg.begin('t2', a!, msg, [1, 2]);
    rejects(() => reg.begin('t3', a!, msg, [1, 2]), 'ERR_BUSY');
    clock.advance(1001);
    expect(reg.size).toBe(0);
    rejects(() => reg.sign('t1', { keyId: a!.keyId, messageDigest: binding.messageDigest }, list), 'ERR_NONCE_REUSE');
  });
});
