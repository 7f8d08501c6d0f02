// Fault: the co-signer dies (its connection cut) at each step of pairing, or its sealed write fails
// with ERR_DISK_FULL. Expected: no dead end. Re-running add-user with the same token finishes the
// pairing (pair.commit for a user already sealed, a fresh DKG otherwise), the owner can then
// approve, and the user signs. Approving before the co-signer committed is ERR_PAIRING_UNCOMMITTED.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CosignerError } from '../../proto/errors.ts';

// Where to cut the co-signer's connection: at the coordinator, just before or just after it handled
// a message of this type (after: the coordinator recorded it, the co-signer never hears back).
const fault = vi.hoisted(() => ({ cutAt: undefined as { type: string; when: 'before' | 'after' } | undefined, diskFullOnce: false }));

vi.mock('../../local/coordinator/pairing.ts', async (importOriginal) =>
  (await import('../attacks/coordinator-cut.ts')).cuttablePairing(await importOriginal<typeof import('../../local/coordinator/pairing.ts')>(), fault),
);
vi.mock('../../enclave/vault/vault.ts', async () => (await import('../attacks/owner-db.ts')).mockedVaultModule(() => {
    if (fault.diskFullOnce) {
      fault.diskFullOnce = false;
      throw new CosignerError('ERR_DISK_FULL', 'no space left on device (test)');
    }
  }));
vi.mock('../../enclave/kms/key-admission.ts', () => ({ admitKmsKey: vi.fn(async () => ({ admitted: true, problems: [], changeable: false, editors: [] })) }));

const { startOwnerStack } = await import('../attacks/owner-stack.ts');
const { db } = await import('../attacks/owner-db.ts');
let s: Awaited<ReturnType<typeof startOwnerStack>>;

beforeAll(async () => {
  s = await startOwnerStack();
}, 60_000);
afterAll(async () => {
  fault.cutAt = undefined;
  await s?.close();
});

async function addUser(token: string) {
  return s.control.AddUser({ pairingToken: token, callback: { url: s.handler.url, authMode: 'public-key', handlerPublicKeyPem: s.handler.publicKeyPem } } as never, {} as never);
}

/** The pairing completes after the fault: approvable, and the user signs. */
async function expectUsable(userId: string) {
  expect(db.state?.users.filter((u) => u.id === userId)).toHaveLength(1);
  await s.coord.approveUser(userId);
  expect(db.state?.users.find((u) => u.id === userId)?.status).toBe('active');
  const tx = await s.coord.createTransaction({ userId, asset: 'ETH', amount: '1', destination: 'd', payload: 'cd'.repeat(32), scheme: 'frost-ed25519' });
  expect(tx.status).toBe('signed');
}

const cuts: { type: string; when: 'before' | 'after' }[] = [
  { type: 'pair.register', when: 'after' },
  { type: 'dkg.round1', when: 'after' },
  { type: 'dkg.round2', when: 'after' },
  { type: 'dkg.finish', when: 'after' },
  { type: 'pair.summary', when: 'after' },
  // Sealed here, but the coordinator never saw pair.commit / its reply was lost.
  { type: 'pair.commit', when: 'before' },
  { type: 'pair.commit', when: 'after' },
];

describe('fault: pairing killed midway', () => {
  cuts.forEach((c, i) => {
    it(`cut ${c.when} ${c.type}: the same add-user finishes the pairing`, async () => {
      const userId = `kill-${i}`;
      const token = s.coord.issuePairingToken(userId, 'ws');
      fault.cutAt = c;
      await expect(addUser(token)).rejects.toBeDefined();
      expect(fault.cutAt).toBeUndefined(); // the cut happened
      if (c.type !== 'pair.commit' || c.when === 'before') {
        // Not committed: the owner is told why, not "no such user".
        // (A pairing the co-signer already aborted after reconnecting is simply unknown.)
        const code = c.type === 'pair.commit' ? 'ERR_PAIRING_UNCOMMITTED' : expect.stringMatching(/^ERR_(PAIRING_UNCOMMITTED|NOT_FOUND)$/);
        await expect(s.coord.approveUser(userId)).rejects.toMatchObject({ code });
      }
      const sealedBefore = db.state?.users.find((u) => u.id === userId);
      const r = await addUser(token);
      expect(r.user?.id ?? (r as { id?: string }).id).toBe(userId);
      // Sealed before the fault: resumed with pair.commit, no new DKG (same keys).
      if (sealedBefore) expect(db.state?.users.find((u) => u.id === userId)?.keyShares).toEqual(sealedBefore.keyShares);
      await expectUsable(userId);
    }, 60_000);
  });

  it('ERR_DISK_FULL at the sealed write: the retry pairs afresh and succeeds', async () => {
    const token = s.coord.issuePairingToken('disk-full', 'ws');
    fault.diskFullOnce = true;
    await expect(addUser(token)).rejects.toMatchObject({ code: 'ERR_DISK_FULL' });
    expect(db.state?.users.some((u) => u.id === 'disk-full')).toBe(false);
    await addUser(token);
    await expectUsable('disk-full');
  }, 60_000);
});
