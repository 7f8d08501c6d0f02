// Owner-gated changes: the pending-change store's verification (wrong key, other co-signer, other
// digest, expired, replayed, reject) and the Cosigner flow with fake backends: a proposal changes
// nothing; the owner's signed decision applies it once; a handler-signed key rotation applies at once.
import { generateKeyPairSync } from 'node:crypto';
import { CompactSign } from 'jose';
import { describe, expect, it } from 'vitest';
import { signOwnerApproval } from '../../../proto/coordinator/owner-approval.ts';
import { changeDigest, PendingChanges, PENDING_LIMITS } from '../../../enclave/services/pending-changes.ts';
import { ROTATION_TYP } from '../../../enclave/approval/rotation.ts';
import { Cosigner } from '../../../enclave/services/cosigner.ts';
import { rejectionCode } from '../../support/error-code.ts';
import { captureLogger, FakeBackends, fakeAttestor, SETUP } from './fakes.ts';

const owner = generateKeyPairSync('ed25519');
const ownerPem = owner.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const other = generateKeyPairSync('ed25519');

function sign(key = owner.privateKey, c: { changeId: string; kind: 'callback.update' | 'user.remove'; userId: string; digest: string; expiresAt: number }, o: { cosignerId?: string; decision?: 'approve' | 'reject'; digest?: string } = {}) {
  return signOwnerApproval(key, { cosignerId: o.cosignerId ?? 'co-1', changeId: c.changeId, kind: c.kind, subjectId: c.userId, digest: o.digest ?? c.digest, expiresAt: c.expiresAt, decision: o.decision ?? 'approve' });
}

describe('pending changes: owner decision verification', () => {
  let t = 1_000_000;
  const store = new PendingChanges(() => t);
  const ctx = { cosignerId: 'co-1', ownerPublicKeyPem: ownerPem };
  const fresh = () => {
    const c = store.create('callback.update', 'u1', { callback: null }, ['remove'], 60_000);
    store.keep(c);
    return c;
  };

  it('accepts the owner signature once (replay → ERR_NOT_FOUND)', () => {
    const c = fresh();
    expect(c.digest).toBe(changeDigest('callback.update', 'u1', { callback: null }));
    expect(store.decide({ changeId: c.changeId, decision: 'approve', signature: sign(owner.privateKey, c) }, ctx).changeId).toBe(c.changeId);
    expect(() => store.decide({ changeId: c.changeId, decision: 'approve', signature: sign(owner.privateKey, c) }, ctx)).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });

  it('refuses a non-owner key, another co-signer id, another digest, a flipped decision; the change stays', () => {
    const c = fresh();
    const bad = [
      sign(other.privateKey, c),
      sign(owner.privateKey, c, { cosignerId: 'co-2' }),
      sign(owner.privateKey, c, { digest: 'ab'.repeat(32) }),
      sign(owner.privateKey, c, { decision: 'reject' }),
      'AAAA',
    ];
    for (const signature of bad) expect(() => store.decide({ changeId: c.changeId, decision: 'approve', signature }, ctx)).toThrow(expect.objectContaining({ code: 'ERR_OWNER_APPROVAL_INVALID' }));
    expect(store.list().some((x) => x.changeId === c.changeId)).toBe(true);
    expect(store.decide({ changeId: c.changeId, decision: 'reject', signature: sign(owner.privateKey, c, { decision: 'reject' }) }, ctx).changeId).toBe(c.changeId);
    expect(store.list().some((x) => x.changeId === c.changeId)).toBe(false);
  });

  it('refuses an expired change and drops it; refuses without an owner key', () => {
    const c = fresh();
    expect(() => store.decide({ changeId: c.changeId, decision: 'approve', signature: sign(owner.privateKey, c) }, { cosignerId: 'co-1', ownerPublicKeyPem: undefined })).toThrow(
      expect.objectContaining({ code: 'ERR_OWNER_KEY_MISSING' }),
    );
    t += 60_000;
    expect(() => store.decide({ changeId: c.changeId, decision: 'approve', signature: sign(owner.privateKey, c) }, ctx)).toThrow(expect.objectContaining({ code: 'ERR_CHANGE_EXPIRED' }));
    expect(store.list()).toEqual([]);
  });

  it('holds at most 32 and sweeps expired ones', () => {
    for (let i = 0; i < PENDING_LIMITS.maxPending; i++) fresh();
    expect(() => fresh()).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }));
    t += 60_000;
    expect(store.sweep()).toHaveLength(PENDING_LIMITS.maxPending);
    expect(store.size).toBe(0);
  });
});

describe('Cosigner: proposals, owner decisions and handler rotations', () => {
  async function ready(ownerPublicKeyPem = ownerPem) {
    const backends = new FakeBackends();
    const { logger, lines } = captureLogger();
    const clock = { now: () => 1_700_000_000_000, sleep: async () => undefined };
    const cosigner = new Cosigner({ backends, attestor: fakeAttestor(), buildId: 'b', localMode: true, logger, clock });
    await cosigner.boot();
    const r = await cosigner.setup({ ...SETUP, ownerPublicKeyPem });
    const u = await cosigner.addUser({ pairingToken: 'token1' });
    const decide = (body: unknown) => (backends.hooks?.onOwnerDecision as (b: unknown) => Promise<unknown>)(body);
    return { backends, cosigner, lines, u, cosignerId: r.cosignerId, decide };
  }

  it('remove-user: nothing until the owner approves; then the user is gone; audited', async () => {
    const { cosigner, u, cosignerId, decide, backends, lines } = await ready();
    const { pending } = await cosigner.removeUser({ userId: u.id });
    expect(cosigner.listUsers()).toHaveLength(1);
    const forged = signOwnerApproval(other.privateKey, { cosignerId, changeId: pending.changeId, kind: 'user.remove', subjectId: u.id, digest: pending.digest, expiresAt: pending.expiresAt, decision: 'approve' });
    expect(await rejectionCode(decide({ changeId: pending.changeId, decision: 'approve', signature: forged }))).toBe('ERR_OWNER_APPROVAL_INVALID');
    expect(cosigner.listUsers()).toHaveLength(1);
    const good = signOwnerApproval(owner.privateKey, { cosignerId, changeId: pending.changeId, kind: 'user.remove', subjectId: u.id, digest: pending.digest, expiresAt: pending.expiresAt, decision: 'approve' });
    expect(await decide({ changeId: pending.changeId, decision: 'approve', signature: good })).toEqual({ applied: true });
    expect(cosigner.listUsers()).toEqual([]);
    expect(cosigner.listChanges()).toEqual([]);
    const kinds = backends.sent.filter((m) => m.type === 'audit.record').map((m) => (m.body as { kind: string }).kind);
    expect(kinds).toEqual(['change.proposed', 'change.refused', 'change.approved', 'change.applied']);
    expect(lines.join('\n')).toContain('"event":"change.applied"');
  });

  it('an unreachable coordinator: typed error, nothing kept', async () => {
    const { cosigner, u, backends } = await ready();
    backends.sendError = new (await import('../../../proto/errors.ts')).CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'down');
    expect(await rejectionCode(cosigner.removeUser({ userId: u.id }))).toBe('ERR_COORDINATOR_UNAVAILABLE');
    expect(cosigner.listChanges()).toEqual([]);
  });

  it('a DB without an owner key refuses every proposal', async () => {
    const { cosigner, u } = await ready();
    // Simulate a DB sealed before owner keys existed.
    const vault = cosigner.openVault as unknown as { state: { owner?: unknown } };
    delete vault.state.owner;
    expect(await rejectionCode(cosigner.removeUser({ userId: u.id }))).toBe('ERR_OWNER_KEY_MISSING');
  });

  it('a handler key rotation signed by the current handler key applies at once; other changes do not', async () => {
    const { cosigner, backends, cosignerId } = await ready();
    const k1 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const k2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = (k: typeof k1) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const cb1 = { url: 'http://127.0.0.1:9', authMode: 'public-key', handlerPublicKeyPem: pem(k1) };
    const u = await cosigner.addUser({ pairingToken: 'token2', callback: cb1 });
    const cb2 = { ...cb1, handlerPublicKeyPem: pem(k2) };
    const digest = changeDigest('callback.update', u.id, { callback: { url: cb2.url, authMode: 'public-key', handlerPublicKeyPem: cb2.handlerPublicKeyPem.trim() } });
    const jws = async (key: typeof k1, d = digest) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify({ typ: ROTATION_TYP, cosignerId, userId: u.id, digest: d }))).setProtectedHeader({ alg: 'ES256' }).sign(key.privateKey);
    expect(await rejectionCode(cosigner.callbackUpdate({ userId: u.id, callback: cb2, rotationSignature: await jws(k2) }))).toBe('ERR_ROTATION_INVALID');
    expect(await rejectionCode(cosigner.callbackUpdate({ userId: u.id, callback: cb2, rotationSignature: await jws(k1, 'cd'.repeat(32)) }))).toBe('ERR_ROTATION_INVALID');
    // A URL change is never a rotation, even signed.
    expect(await rejectionCode(cosigner.callbackUpdate({ userId: u.id, callback: { ...cb2, url: 'http://127.0.0.1:10' }, rotationSignature: await jws(k1) }))).toBe('ERR_ROTATION_INVALID');
    const r = await cosigner.callbackUpdate({ userId: u.id, callback: cb2, rotationSignature: await jws(k1) });
    expect(r).toMatchObject({ applied: true, changed: ['handlerKeySha256'] });
    const sealed = (cosigner.openVault?.state.users ?? []).find((x) => x.id === u.id);
    expect(sealed?.callback?.handlerPublicKeyPem?.trim()).toBe(cb2.handlerPublicKeyPem.trim());
    expect(backends.sent.some((m) => m.type === 'change.propose')).toBe(false);
  });
});
