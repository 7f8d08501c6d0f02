// Attack: the coordinator link (or the parent relaying it) sends `user.activate` the workspace owner
// never signed, to make a freshly paired user active. The enclave recomputes the pairing summary
// from its sealed pending record and checks the owner's signature with the owner key sealed at
// setup: a missing signature, another key's, one over a different summary (e.g. another Callback
// Handler URL) or an expired approval all leave the user pending.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalDigest } from '../../proto/coordinator/approval-signature.ts';
import { signOwnerApproval } from '../../proto/coordinator/owner-approval.ts';
import { activateUser } from '../../enclave/upstream/activation.ts';
import { pairingSummary } from '../../enclave/upstream/pairing-summary.ts';
import { memoryUserStore } from '../../enclave/upstream/user-store.ts';
import type { ApiUserRecord } from '../../enclave/vault/records.ts';
import { runDkg } from '../enclave/mpc/helpers.ts';

const COSIGNER = 'cs-act';
const NOW = 1_800_000_000_000;
const owner = generateKeyPairSync('ed25519');
const ownerPem = owner.publicKey.export({ format: 'pem', type: 'spki' }) as string;
const handlerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string;

const pending: ApiUserRecord = {
  id: 'alice',
  workspace: 'ws',
  createdAt: 1,
  status: 'pending',
  approvalKeyPkcs8: generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'),
  callback: { url: 'https://handler.example/approve', authMode: 'public-key', handlerPublicKeyPem: handlerKey },
  keyShares: [runDkg('frost-ed25519', 2, [1, 2])[0]!],
};

function signed(key: KeyObject, summaryOf: ApiUserRecord = pending, o: { expiresAt?: number; subjectId?: string } = {}): Record<string, unknown> {
  const expiresAt = o.expiresAt ?? NOW + 60_000;
  const digest = canonicalDigest(pairingSummary(summaryOf, COSIGNER));
  const signature = signOwnerApproval(key, { cosignerId: COSIGNER, changeId: 'chg-1', kind: 'user.activate', subjectId: o.subjectId ?? 'alice', digest, expiresAt, decision: 'approve' });
  return { userId: 'alice', changeId: 'chg-1', expiresAt, signature };
}

async function attempt(body: unknown, ownerPublicKeyPem: string | null = ownerPem): Promise<{ err: unknown; status: string | undefined }> {
  const users = memoryUserStore([pending]);
  const err = await activateUser({ users, cosignerId: COSIGNER, ownerPublicKeyPem: ownerPublicKeyPem ?? undefined, now: NOW }, body).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, status: users.get('alice')?.status };
}

describe('attack: user.activate the owner did not sign', () => {
  it('the owner-signed approval of exactly this pairing activates', async () => {
    expect(await attempt(signed(owner.privateKey))).toEqual({ err: undefined, status: 'active' });
  });

  it.each([
    ['no signature (the old message)', { userId: 'alice' }, 'ERR_INVALID_ARGUMENT'],
    ['a non-owner key', signed(generateKeyPairSync('ed25519').privateKey), 'ERR_ACTIVATION_INVALID'],
    ['the digest of a different Callback Handler URL', signed(owner.privateKey, { ...pending, callback: { ...pending.callback!, url: 'https://attacker.example/approve' } }), 'ERR_ACTIVATION_INVALID'],
    ['the digest of a different t-of-n', signed(owner.privateKey, { ...pending, keyShares: [{ ...pending.keyShares[0]!, threshold: 1 }] }), 'ERR_ACTIVATION_INVALID'],
    ['an approval for another user', signed(owner.privateKey, pending, { subjectId: 'bob' }), 'ERR_ACTIVATION_INVALID'],
    ['an expired approval', signed(owner.privateKey, pending, { expiresAt: NOW - 1 }), 'ERR_ACTIVATION_INVALID'],
    ['a malformed signature', { ...signed(owner.privateKey), signature: 'x' }, 'ERR_INVALID_ARGUMENT'],
  ])('%s: refused, the user stays pending', async (_name, body, code) => {
    const r = await attempt(body);
    expect(r.err).toMatchObject({ code });
    expect(r.status).toBe('pending');
  });

  it('a co-signer set up before owner keys existed refuses every activation', async () => {
    const r = await attempt(signed(owner.privateKey), null);
    expect(r.err).toMatchObject({ code: 'ERR_ACTIVATION_INVALID' });
    expect(r.status).toBe('pending');
  });
});
