// Runs on the parent. `cosigner backups list` / `restore`: which generations of the sealed blobs are
// on disk, and the one restore the parent may do on its own — the NEWEST generation, to replace a
// damaged or deleted db/ file. An older generation is a rollback: the enclave and the coordinator's
// rollback floor refuse it (ERR_ROLLBACK) and the co-signer would stop signing, so it is refused
// here (ERR_RESTORE_REFUSED) before anything is written; a deliberate rollback starts with the
// workspace owner's acknowledgement at the coordinator (docs/operations.md, "Backups").
import { CosignerError } from '../../proto/errors.ts';
import type { FileBlobStore } from './file-blob-store.ts';

/** One generation as `cosigner backups list` shows it. */
export interface GenerationView {
  readonly name: string;
  /** Store generation (decimal): the GEN `cosigner backups restore` takes. */
  readonly generation: string;
  readonly size: number;
  readonly time: string;
  /** This is the generation db/ holds now. */
  readonly current: boolean;
  /** The newest generation on disk: the only one `restore` accepts. */
  readonly newest: boolean;
}

/** The generations of every blob (or of `name`), newest first per blob. */
export async function listGenerations(store: FileBlobStore, name?: string): Promise<GenerationView[]> {
  const { entries, current } = await store.generations(name);
  const newest = new Map<string, bigint>();
  for (const e of entries) if ((newest.get(e.name) ?? -1n) < e.generation) newest.set(e.name, e.generation);
  return entries.map((e) => ({
    name: e.name,
    generation: e.generation.toString(),
    size: e.size,
    time: new Date(e.mtimeMs).toISOString(),
    current: current.get(e.name) === e.generation,
    newest: newest.get(e.name) === e.generation,
  }));
}

/**
 * Restores backup `generation` of `name` into db/. Only with the enclave stopped (it holds the blob
 * open and would conflict), and only the newest generation. Returns the new store generation.
 */
export async function restoreGeneration(store: FileBlobStore, name: string, generation: bigint, enclaveStopped: boolean): Promise<{ storeGeneration: string }> {
  if (!enclaveStopped) throw new CosignerError('ERR_STATE', 'stop the enclave first (`cosigner stop`): it holds the secrets open and would overwrite a restore');
  const { entries, current } = await store.generations(name);
  if (!entries.some((e) => e.generation === generation)) {
    throw new CosignerError('ERR_NOT_FOUND', `no backup of ${name} at generation ${generation} (see \`cosigner backups list\`)`, { details: { name } });
  }
  const cur = current.get(name) ?? null;
  const newest = entries.reduce((m, e) => (e.generation > m ? e.generation : m), cur ?? 0n);
  if (generation < newest) {
    throw new CosignerError(
      'ERR_RESTORE_REFUSED',
      `generation ${generation} of ${name} is older than generation ${newest}: the co-signer and the coordinator's rollback floor would refuse it (ERR_ROLLBACK) ` +
        'and it would stop signing. Restore the newest generation, or have the workspace owner acknowledge a deliberate rollback at the coordinator first; nothing was changed',
      { details: { name, generation: generation.toString(), newest: newest.toString() } },
    );
  }
  return { storeGeneration: (await store.replaceFromBackup(name, generation)).toString() };
}
