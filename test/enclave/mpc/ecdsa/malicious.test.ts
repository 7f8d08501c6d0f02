// A malicious signing peer for every check of DKLs23 signing (Protocol 3.6): each tampering aborts
// the honest parties with ERR_PEER_CHEATED naming the peer and the check (or, where nobody can be
// named, check 'signature' at assembly), and no signature comes out.
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createEcdsaSigning } from '../../../../enclave/mpc/ecdsa/signing.ts';
import type { OtLayer } from '../../../../enclave/mpc/ecdsa/ot-api.ts';
import type { PartyMessage } from '../../../../enclave/mpc/ecdsa/party.ts';
import { rejects } from '../helpers.ts';
import { ot, runEcdsaDkg, runParties, runSigning, signingParties, type Tamper } from './helpers.ts';

const keys = runEcdsaDkg(2, [1, 2, 3]);
const digest = new Uint8Array(32).fill(7);
const signers = [1, 2, 3];
const G = secp256k1.Point.BASE;

// Offsets in a round-2 message: version, type, binding (32), R (33), salt (32), pk (33), Γu (33), Γv (33), ψ (32), msg2.
const OFF = { R: 34, salt: 67, pk: 99, gu: 132, gv: 165, psi: 198, msg2: 230 };

function edit(payload: Uint8Array, at: number, len: number, f: (b: Uint8Array) => Uint8Array): Uint8Array {
  const out = Uint8Array.from(payload);
  out.set(f(payload.slice(at, at + len)), at);
  return out;
}
const addG = (b: Uint8Array): Uint8Array => secp256k1.Point.fromBytes(b).add(G).toBytes(true);
const plusOne = (b: Uint8Array): Uint8Array => secp256k1.Point.Fn.toBytes(secp256k1.Point.Fn.add(secp256k1.Point.Fn.fromBytes(b), 1n));

/** Tamper with what peer 2 sends in `round` (messages of type `type` when given). */
function fromTwo(round: number, f: (m: PartyMessage) => PartyMessage | PartyMessage[] | null, type?: number): Tamper {
  return (r, m) => (r === round && m.from === 2 && (type === undefined || m.payload[1] === type) ? f(m) : m);
}
const withPayload = (m: PartyMessage, payload: Uint8Array): PartyMessage => ({ ...m, payload });

function expectCheat(tamper: Tamper, details: Record<string, unknown>, layer: OtLayer = ot): void {
  rejects(() => runSigning(keys, signers, digest, tamper, layer), 'ERR_PEER_CHEATED', details);
}

describe('malicious signing peer 2 (2-of-3, all three sign)', () => {
  it('honest run signs (control)', () => {
    expect(runSigning(keys, signers, digest).compact.length).toBe(64);
  });

  it('bad opening of its R commitment', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.salt, 32, (b) => b.map((x) => x ^ 1)))), { identifier: 2, check: 'commitment' });
  });

  it('a different R than it committed to', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.R, 33, addG))), { identifier: 2, check: 'commitment' });
  });

  it('wrong Γ^u', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.gu, 33, addG))), { identifier: 2, check: 'gamma-u' });
  });

  it('wrong Γ^v', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.gv, 33, addG))), { identifier: 2, check: 'gamma-v' });
  });

  it('a different instance key r inside the multiplication than its R (Γ^u consistent with its input)', () => {
    const cheat: OtLayer = { ...ot, rvoleSend: (p) => ot.rvoleSend(p.self === 2 ? { ...p, inputs: [p.inputs[0] + 1n, p.inputs[1]] } : p) };
    rejects(() => runSigning(keys, signers, digest, undefined, cheat), 'ERR_PEER_CHEATED', { identifier: 2, check: 'gamma-u' });
  });

  it('a different key share inside the multiplication than its pk', () => {
    const cheat: OtLayer = { ...ot, rvoleSend: (p) => ot.rvoleSend(p.self === 2 ? { ...p, inputs: [p.inputs[0], p.inputs[1] + 1n] } : p) };
    rejects(() => runSigning(keys, signers, digest, undefined, cheat), 'ERR_PEER_CHEATED', { identifier: 2, check: 'gamma-v' });
  });

  it('wrong pk_j', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.pk, 33, addG))), { identifier: 2, check: 'public-share' });
  });

  it('identity or off-curve R_j (33 zero bytes cannot decode)', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.R, 33, () => new Uint8Array(33)))), { identifier: 2, check: 'point' });
  });

  it('wrong ψ: the signature check at assembly fails', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.psi, 32, plusOne))), { check: 'signature' });
  });

  it('non-canonical ψ (≥ n)', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.psi, 32, () => new Uint8Array(32).fill(0xff)))), { identifier: 2, check: 'scalar' });
  });

  it.each([['u', 34], ['w', 66]])('tampered round-3 %s: the signature check fails', (_name, at) => {
    expectCheat(fromTwo(3, (m) => withPayload(m, edit(m.payload, at, 32, plusOne))), { check: 'signature' });
  });

  it('tampered RVOLE message: the OT layer aborts naming the peer', () => {
    expectCheat(fromTwo(2, (m) => withPayload(m, edit(m.payload, OFF.msg2, 1, (b) => b.map((x) => x ^ 1)))), { identifier: 2, check: 'ot-rvole' });
  });

  it('round-1 messages replayed from another session', () => {
    const old: PartyMessage[] = [];
    runParties(signingParties(keys, signers, digest, 'sess-old'), (r, m) => {
      if (r === 1 && m.from === 2) old.push(m);
      return m;
    });
    expectCheat((r, m) => (r === 1 && m.from === 2 ? (old.find((o) => o.to === m.to && o.payload[1] === m.payload[1]) as PartyMessage) : m), { identifier: 2, check: 'binding' });
  });

  it('a peer with a different signer set', () => {
    const parties = [createEcdsaSigning({ sessionId: 'sess-1', key: keys[0]!, digest, signers: [1, 2], ot }), createEcdsaSigning({ sessionId: 'sess-1', key: keys[1]!, digest, signers: [1, 2, 3], ot })];
    rejects(() => runParties(parties, (_r, m) => (m.to === 3 ? null : m)), 'ERR_PEER_CHEATED', { identifier: 2, check: 'binding' });
  });

  it('a message from a non-signer', () => {
    const two = [keys[0]!, keys[1]!];
    const extra: Tamper = (r, m) => (r === 1 && m.from === 2 && m.to === 0 ? [m, { ...m, from: 3 }] : m);
    rejects(() => runSigning(two, [1, 2], digest, extra), 'ERR_PEER_CHEATED', { identifier: 3, check: 'sender' });
  });

  it.each([1, 2, 3])('a duplicate message in round %i', (round) => {
    expectCheat(fromTwo(round, (m) => [m, m]), { identifier: 2, check: 'duplicate' });
  });

  it.each([1, 2, 3])('a missing message in round %i', (round) => {
    expectCheat(fromTwo(round, () => null), { identifier: 2, check: 'missing' });
  });

  it('a direct message sent as broadcast', () => {
    expectCheat(fromTwo(2, (m) => ({ ...m, to: 0 })), { identifier: 2, check: 'recipient' });
  });

  it.each([1, 2, 3])('truncated and oversized payloads in round %i', (round) => {
    expectCheat(fromTwo(round, (m) => withPayload(m, m.payload.slice(0, m.payload.length - 1))), { identifier: 2 });
    expectCheat(fromTwo(round, (m) => withPayload(m, Uint8Array.from([...m.payload, 0]))), { identifier: 2 });
    expectCheat(fromTwo(round, (m) => withPayload(m, new Uint8Array(200 * 1024).fill(1))), { identifier: 2 });
    expectCheat(fromTwo(round, (m) => withPayload(m, m.payload.slice(0, 1))), { identifier: 2, check: 'length' });
  });

  it('round-3 messages fixed at their exact length (64 + header), unknown version refused', () => {
    expectCheat(fromTwo(3, (m) => withPayload(m, Uint8Array.from([2, ...m.payload.slice(1)]))), { identifier: 2, check: 'version' });
  });

  it('messages of the next round in place of the expected ones (reordered rounds)', () => {
    const parties = signingParties(keys, signers, digest);
    const inbox = (id: number, ms: PartyMessage[]) => ms.filter((m) => m.from !== id && (m.to === id || m.to === 0));
    const r1 = parties.flatMap((p) => p.step([]).messages);
    const r2 = parties.slice(1).flatMap((p) => p.step(inbox(p.identifier, r1)).messages);
    // Party 1 gets round-2 messages while it expects round 1's.
    rejects(() => parties[0]!.step(inbox(1, r2)), 'ERR_PEER_CHEATED', { check: 'message-type' });
  });

  it('repeated or out-of-order steps abort the run for good (ERR_SESSION_ABORTED), secrets gone', () => {
    const [p1] = signingParties(keys, [1, 2], digest);
    rejects(() => p1!.step([{ from: 2, to: 1, payload: new Uint8Array(2) }]), 'ERR_SESSION_ABORTED');
    rejects(() => p1!.step([]), 'ERR_SESSION_ABORTED');
    const [q1] = signingParties(keys, [1, 2], digest);
    q1!.step([]);
    q1!.abort();
    rejects(() => q1!.step([]), 'ERR_SESSION_ABORTED');
    const done = signingParties(keys, [1, 2], digest);
    runParties(done);
    rejects(() => done[0]!.step([]), 'ERR_SESSION_ABORTED');
  });

  it('bad parameters are refused before any randomness is drawn', () => {
    const key = keys[0]!;
    rejects(() => createEcdsaSigning({ sessionId: 's', key, digest, signers: [2, 3], ot }), 'ERR_INVALID_ARGUMENT');
    rejects(() => createEcdsaSigning({ sessionId: 's', key, digest, signers: [1], ot }), 'ERR_INVALID_ARGUMENT');
    rejects(() => createEcdsaSigning({ sessionId: 's', key, digest, signers: [1, 4], ot }), 'ERR_INVALID_ARGUMENT');
    rejects(() => createEcdsaSigning({ sessionId: 's', key, digest, signers: [1, 1, 2], ot }), 'ERR_INVALID_ARGUMENT');
    rejects(() => createEcdsaSigning({ sessionId: 's', key, digest: new Uint8Array(31), signers: [1, 2], ot }), 'ERR_INVALID_ARGUMENT');
    rejects(() => createEcdsaSigning({ sessionId: 'bad id', key, digest, signers: [1, 2], ot }), 'ERR_INVALID_ARGUMENT');
    const wrongShare = { ...key, secretShare: keys[1]!.secretShare };
    rejects(() => createEcdsaSigning({ sessionId: 's', key: wrongShare, digest, signers: [1, 2], ot }), 'ERR_INVALID_ARGUMENT');
    const noPairwise = { ...key, ecdsa: { pairwise: {} } };
    rejects(() => createEcdsaSigning({ sessionId: 's', key: noPairwise, digest, signers: [1, 2], ot }), 'ERR_INVALID_ARGUMENT');
  });
});
