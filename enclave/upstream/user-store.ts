// Runs in the enclave. The narrow view of the vault the coordinator client needs: read users, and
// record the owner's approval of a new key share. The composition root builds it from the vault.
import { CosignerError } from '../../proto/errors.ts';
import type { ApiUserRecord, SecretsState } from '../vault/records.ts';

/** Users as the coordinator client sees them. */
export interface UserStore {
  get(id: string): ApiUserRecord | undefined;
  list(): readonly ApiUserRecord[];
  /** Marks a pending user active (sealed before it resolves). */
  activate(id: string): Promise<ApiUserRecord>;
}

/** The part of the vault handle this module uses (`enclave/services/backends.ts` VaultHandle fits). */
export interface VaultLike {
  readonly state: SecretsState;
  update(mutate: (s: SecretsState) => SecretsState): Promise<void>;
}

/** A UserStore over an open vault. */
export function userStoreFromVault(vault: VaultLike): UserStore {
  return {
    get: (id) => vault.state.users.find((u) => u.id === id),
    list: () => vault.state.users,
    async activate(id) {
      let out: ApiUserRecord | undefined;
      await vault.update((s) => {
        const u = s.users.find((x) => x.id === id);
        if (!u) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
        out = u.status === 'active' ? u : { ...u, status: 'active' };
        return { ...s, users: s.users.map((x) => (x.id === id ? (out as ApiUserRecord) : x)) };
      });
      return out as ApiUserRecord;
    },
  };
}

/** An in-memory UserStore (tests, and the reference stack before a vault exists). */
export function memoryUserStore(initial: readonly ApiUserRecord[] = []): UserStore & { put(u: ApiUserRecord): void } {
  const users = new Map(initial.map((u) => [u.id, u]));
  return {
    get: (id) => users.get(id),
    list: () => [...users.values()],
    put: (u) => void users.set(u.id, u),
    async activate(id) {
      const u = users.get(id);
      if (!u) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
      const next: ApiUserRecord = { ...u, status: 'active' };
      users.set(id, next);
      return next;
    },
  };
}
