// Runs in the enclave. `RefreshKey` (cosigner refresh-key USER_ID KEY_ID): new shares of a
// threshold ECDSA key with the coordinator (enclave/upstream/ecdsa-keys.ts runs the protocol and
// seals the result through the vault's write path); answers with the key as list-users shows it.
import { CosignerError } from '../../proto/errors.ts';
import type { Upstream, VaultHandle } from './backends.ts';
import { userInfo, type KeyInfo } from './cosigner-types.ts';
import * as v from './validate.ts';

export async function refreshKey(d: { vault: VaultHandle; upstream: Upstream | undefined }, input: { userId?: unknown; keyId?: unknown }): Promise<{ userId: string; key: KeyInfo; refreshId: string }> {
  const userId = v.userId(input.userId);
  const keyId = v.text(input.keyId, 'key_id', 128, { required: true });
  if (!/^[A-Za-z0-9._:-]+$/.test(keyId)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'key_id has characters a key id never has', { details: { field: 'key_id' } });
  if (!d.upstream?.refreshKey) throw new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'no coordinator client: the co-signer is not connected');
  const r = await d.upstream.refreshKey(userId, keyId);
  const user = d.vault.state.users.find((u) => u.id === userId);
  const key = user ? userInfo(user).keys.find((k) => k.keyId === keyId) : undefined;
  if (!key) throw new CosignerError('ERR_NOT_FOUND', 'the refreshed key is gone (user removed meanwhile?)', { details: { keyId } });
  return { userId, key, refreshId: r.refreshId };
}
