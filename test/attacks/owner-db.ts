// Test helper: the sealed DB the mocked vault serves in the owner-gated change attacks (its own module
// so the vi.mock factory does not import the stack that imports the mocked vault).
import type { SecretsState } from '../../enclave/vault/records.ts';

export const db: { state: SecretsState | undefined; generation: bigint } = { state: undefined, generation: 1n };
