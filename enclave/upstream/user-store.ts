// Runs in the enclave. The narrow view of the vault the coordinator client needs: read users, and
// record the owner's approval of a new key share. The composition root builds it from the vault.
import { CosignerError } from '../../proto/errors.ts';
import type { ApiUserRecord, KeyShareRecord, SecretsState } from '../vault/records.ts';

/** Why a threshold ECDSA key must be refreshed before it signs again (KeyShareRecord.ecdsa). */
export type RefreshMark = NonNullable<NonNullable<KeyShareRecord['ecdsa']>['refreshRequired']>;

/** Users as the coordinator client sees them. */
export interface UserStore {
  get(id: string): ApiUserRecord | undefined;
  list(): readonly ApiUserRecord[];
  /** Marks a pending user active (sealed before it resolves). */
  activate(id: string): Promise<ApiUserRecord>;
  /**
   * Marks a threshold ECDSA key "refresh required" (a peer failed a protocol check). Sealed before
   * it resolves; the first mark of a key is kept (a later one would only hide the first cheater).
   */
  markRefreshRequired(userId: string, keyId: string, mark: RefreshMark): Promise<void>;
  /** Replaces a key share by its refreshed record (same keyId; sealed before it resolves). */
  replaceKey(userId: string, record: KeyShareRecord): Promise<void>;
}

function withMark(u: ApiUserRecord, keyId: string, mark: RefreshMark): ApiUserRecord {
  if (!u.keyShares.some((k) => k.keyId === keyId && k.ecdsa)) throw new CosignerError('ERR_NOT_FOUND', 'no such threshold ECDSA key', { details: { keyId } });
  return { ...u, keyShares: u.keyShares.map((k) => (k.keyId === keyId && k.ecdsa && !k.ecdsa.refreshRequired ? { ...k, ecdsa: { ...k.ecdsa, refreshRequired: mark } } : k)) };
}

function withKey(u: ApiUserRecord, record: KeyShareRecord): ApiUserRecord {
  const old = u.keyShares.find((k) => k.keyId === record.keyId);
  // A refresh keeps the key: same id, scheme and group public key.
  if (!old || old.scheme !== record.scheme || old.groupPublicKey !== record.groupPublicKey) throw new CosignerError('ERR_NOT_FOUND', 'no such key to replace', { details: { keyId: record.keyId } });
  return { ...u, keyShares: u.keyShares.map((k) => (k.keyId === record.keyId ? record : k)) };
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
    markRefreshRequired: (userId, keyId, mark) => updateUser(vault, userId, (u) => withMark(u, keyId, mark)),
    replaceKey: (userId, record) => updateUser(vault, userId, (u) => withKey(u, record)),
  };
}

async function updateUser(vault: VaultLike, id: string, f: (u: ApiUserRecord) => ApiUserRecord): Promise<void> {
  await vault.update((s) => {
    const u = s.users.find((x) => x.id === id);
    if (!u) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
    const next = f(u);
    return { ...s, users: s.users.map((x) => (x.id === id ? next : x)) };
  });
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
    async markRefreshRequired(userId, keyId, mark) {
      const u = users.get(userId);
      if (!u) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
      users.set(userId, withMark(u, keyId, mark));
    },
    async replaceKey(userId, record) {
      const u = users.get(userId);
      if (!u) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
      users.set(userId, withKey(u, record));
    },
  };
}
