// Attack: root on the parent sends Control.RemoveUser to make a user's funds unsignable. Expected: the
// user and its key shares stay sealed (and keep signing) until the workspace owner approves the
// removal at the coordinator; after that approval the user is gone.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

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

describe('attack: RemoveUser from the parent', () => {
  it('leaves the user and its shares sealed until the owner approves; then the user is gone', async () => {
    const shares = JSON.stringify(s.sealedUser()?.keyShares);
    const r = await s.control.RemoveUser({ userId: 'alice' } as never, {} as never);
    expect(r.pending?.kind).toBe('user.remove');
    expect(JSON.stringify(s.sealedUser()?.keyShares)).toBe(shares);
    // Still signs what the handler approves.
    const tx = await s.coord.createTransaction({ userId: 'alice', asset: 'ETH', amount: '1', destination: 'd', payload: 'cd'.repeat(32), scheme: 'frost-ed25519' });
    expect(tx.status).toBe('signed');
    const [c] = s.coord.changes();
    expect(c).toMatchObject({ kind: 'user.remove', userId: 'alice', changeId: r.pending?.changeId });
    expect((await s.coord.decideChange(c?.changeId as string, 'approve')).applied).toBe(true);
    expect(s.sealedUser()).toBeUndefined();
    expect((await s.control.ListChanges({} as never, {} as never)).changes).toEqual([]);
  });
});
