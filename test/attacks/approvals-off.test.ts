// Attack: root on the parent tries to switch approvals off or hand them to its own handler by
// sending Control.CallbackUpdate (an empty callback; an attacker certificate-mode handler), even with
// the old `confirmed: true`. Expected: nothing changes in the sealed DB, the user's handler still
// decides, the coordinator only sees a proposal; a change.approve not signed by the owner is refused.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signOwnerApproval } from '../../proto/coordinator/owner-approval.ts';
import { createEphemeralCa } from '../../local/local-ca.ts';
import { rejectionCode } from '../support/error-code.ts';

vi.mock('../../enclave/vault/vault.ts', async () => (await import('./owner-db.ts')).mockedVaultModule());
vi.mock('../../enclave/kms/key-admission.ts', () => ({ admitKmsKey: vi.fn(async () => ({ admitted: true, problems: [], changeable: false, editors: [] })) }));

const { startOwnerStack } = await import('./owner-stack.ts');
let s: Awaited<ReturnType<typeof startOwnerStack>>;

beforeAll(async () => {
  s = await startOwnerStack();
}, 60_000);
afterAll(async () => {
  await s?.close();
});

describe('attack: Callback Handler switched off or replaced from the parent', () => {
  it('an empty callback and an attacker certificate-mode handler, with confirmed: true, change nothing', async () => {
    const before = JSON.stringify(s.sealedUser()?.callback);
    const removed = await s.control.CallbackUpdate({ userId: 'alice', callback: {}, confirmed: true } as never, {} as never);
    expect(removed.applied).toBe(false);
    expect(removed.pending?.summary?.[0]).toMatch(/remove the Callback Handler/);
    const ca = await createEphemeralCa('attacker handler');
    const attackerCert = (await ca.issueServerCert()).certPem;
    const swapped = await s.control.CallbackUpdate({ userId: 'alice', callback: { url: 'https://127.0.0.1:9', authMode: 'certificate', certificatePem: attackerCert }, confirmed: true } as never, {} as never);
    expect(swapped.applied).toBe(false);
    expect(JSON.stringify(s.sealedUser()?.callback)).toBe(before);
    // The coordinator holds two proposals, nothing else happened.
    expect(s.coord.changes().map((c) => c.kind)).toEqual(['callback.update', 'callback.update']);
    expect((await s.control.Status({} as never, {} as never)).pendingChanges).toBe(2);
  });

  it('the handler still decides: a transaction it rejects is not signed', async () => {
    const tx = await s.coord.createTransaction({ userId: 'alice', asset: 'ETH', amount: '50', destination: 'd', payload: 'ab'.repeat(32), scheme: 'frost-ed25519' });
    expect(tx.status).toBe('rejected');
    expect(tx.signature).toBeUndefined();
  });

  it('a change.approve signed with a non-owner key is refused and the change stays pending', async () => {
    const c = s.coord.changes()[0];
    if (!c) throw new Error('no proposal');
    const forger = generateKeyPairSync('ed25519').privateKey;
    const signature = signOwnerApproval(forger, { cosignerId: c.cosignerId, changeId: c.changeId, kind: c.kind, subjectId: c.userId, digest: c.digest, expiresAt: c.expiresAt, decision: 'approve' });
    expect(await rejectionCode(s.ownerDecision({ changeId: c.changeId, decision: 'approve', signature }))).toBe('ERR_OWNER_APPROVAL_INVALID');
    expect(s.sealedUser()?.callback?.url).toBe(s.handler.url);
    expect((await s.control.ListChanges({} as never, {} as never)).changes).toHaveLength(2);
  });

  it('the owner rejecting at the coordinator drops the change; the audit trail shows it', async () => {
    const c = s.coord.changes()[0];
    if (!c) throw new Error('no proposal');
    expect((await s.coord.decideChange(c.changeId, 'reject')).applied).toBe(false);
    expect(s.sealedUser()?.callback?.url).toBe(s.handler.url);
    await new Promise((r) => setTimeout(r, 100));
    const kinds = (s.coord.audit() as { kind: string }[]).map((r) => r.kind);
    expect(kinds).toEqual(expect.arrayContaining(['change.proposed', 'change.refused', 'change.rejected']));
  });
});
