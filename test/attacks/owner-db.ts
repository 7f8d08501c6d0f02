// Test helper: the sealed DB the mocked vault serves in the owner-gated change attacks and the pairing
// fault tests, and that mocked vault module itself. Its own module so the vi.mock factories do not
// import the stack that imports the mocked vault.
import { vi } from 'vitest';
import type { SecretsState } from '../../enclave/vault/records.ts';

export const db: { state: SecretsState | undefined; generation: bigint } = { state: undefined, generation: 1n };

/**
 * The `enclave/vault/vault.ts` module as these tests mock it: unseal serves `db`, every update
 * applies to it. `beforeWrite` runs after the mutation is computed and before it lands, so it can
 * fail a write (a full disk) with nothing stored.
 */
export function mockedVaultModule(beforeWrite: () => void = () => undefined) {
  return {
    SECRETS_KEY_BLOB: 'secrets.key',
    SECRETS_DB_BLOB: 'secrets.db',
    Vault: {
      setup: vi.fn(async () => {
        throw new Error('not reached');
      }),
      unseal: vi.fn(async () => ({
        get state() {
          return db.state;
        },
        get dbGeneration() {
          return db.generation;
        },
        update: async (m: (s: SecretsState) => SecretsState) => {
          const next = m(db.state as SecretsState);
          beforeWrite();
          db.state = next;
          db.generation++;
        },
        close: () => undefined,
      })),
    },
  };
}
