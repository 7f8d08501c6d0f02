// Runs on the parent. The file-backed BlobStore behind COSIGNER_HOME/db: the enclave's sealed
// blobs (secrets.key, secrets.db) are opaque here. What this module guarantees is durability and
// ordering, not secrecy: every write is temp file → fsync → rename → fsync directory, so a crash at
// any instant leaves either the old or the new blob; writes are compare-and-swap on the store's
// generation so two writers cannot silently overwrite each other; the last N superseded generations
// and a copy of the current one are kept in COSIGNER_HOME/backup for the operator (`cosigner
// backups`), so a damaged or deleted db/ file can be replaced by the newest generation.
import * as fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { BlobStore, StoredBlob } from '../../proto/ports.ts';
import { CosignerError } from '../../proto/errors.ts';
import { decodeBlobFile, encodeBlobFile } from './blob-file.ts';

/** Blob names: short lower-case ASCII, no path separators, not hidden. */
const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Largest blob accepted (the secrets DB of a large deployment stays far below this). */
export const MAX_BLOB_BYTES = 16 * 1024 * 1024;
const BACKUP_RE = /^([a-z0-9][a-z0-9._-]{0,62})\.g(\d{1,20})$/;

/** The subset of node:fs/promises the store uses; tests swap it to inject ENOSPC and crashes. */
export type StoreFs = Pick<typeof fsp, 'open' | 'rename' | 'link' | 'unlink' | 'readFile' | 'readdir' | 'mkdir' | 'stat' | 'copyFile'>;

export interface FileBlobStoreOptions {
  /** How many superseded generations of each blob to keep in backup/ (default 10). */
  readonly keepBackups?: number;
  readonly fs?: StoreFs;
}

/** One backup on disk, as `cosigner backups` lists it. */
export interface BackupEntry {
  readonly name: string;
  readonly generation: bigint;
  readonly size: number;
  readonly mtimeMs: number;
}

/** Throws ERR_INVALID_ARGUMENT unless `name` is a valid blob name (no separators, not hidden, ≤ 63 chars). */
export function validateBlobName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'invalid blob name', { details: { name: String(name).slice(0, 64) } });
  }
}

function storageError(err: unknown, what: string, name: string): CosignerError {
  if (err instanceof CosignerError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CosignerError('ERR_DISK_FULL', `disk full while ${what} ${name}; the previous generation is intact`, { cause: err, details: { name } });
  }
  return new CosignerError('ERR_STORAGE', `storage error while ${what} ${name}`, { cause: err, details: { name, errno: String(code ?? 'unknown') } });
}

/**
 * BlobStore over COSIGNER_HOME/db with atomic writes, CAS and backups. One instance per home: the
 * in-process lock serialises writers; the daemon is the only process that writes the store.
 *
 * @example
 * const store = await FileBlobStore.open(process.env.COSIGNER_HOME!);
 * const g = await store.put('secrets.db', sealed, current?.generation ?? 0n);
 */
export class FileBlobStore implements BlobStore {
  readonly dbDir: string;
  readonly backupDir: string;
  private readonly keep: number;
  private readonly fs: StoreFs;
  private readonly locks = new Map<string, Promise<unknown>>();

  private constructor(home: string, opts: FileBlobStoreOptions) {
    this.dbDir = join(home, 'db');
    this.backupDir = join(home, 'backup');
    this.keep = Math.max(0, Math.min(opts.keepBackups ?? 10, 1000));
    this.fs = opts.fs ?? fsp;
  }

  /** Creates db/ and backup/ (mode 0700) and removes temp files a crash left behind. */
  static async open(home: string, opts: FileBlobStoreOptions = {}): Promise<FileBlobStore> {
    const s = new FileBlobStore(home, opts);
    try {
      await s.fs.mkdir(s.dbDir, { recursive: true, mode: 0o700 });
      await s.fs.mkdir(s.backupDir, { recursive: true, mode: 0o700 });
      for (const f of await s.fs.readdir(s.dbDir)) {
        if (f.startsWith('.') && f.includes('.tmp-')) await s.fs.unlink(join(s.dbDir, f)).catch(() => undefined);
      }
    } catch (err) {
      throw storageError(err, 'opening', home);
    }
    return s;
  }

  async get(name: string): Promise<StoredBlob | null> {
    validateBlobName(name);
    return this.read(join(this.dbDir, name), name);
  }

  async put(name: string, data: Uint8Array, expectedGeneration: bigint): Promise<bigint> {
    validateBlobName(name);
    if (!(data instanceof Uint8Array)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'blob data must be bytes');
    if (data.length > MAX_BLOB_BYTES) {
      throw new CosignerError('ERR_LIMIT_EXCEEDED', `blob ${name} larger than ${MAX_BLOB_BYTES} bytes`, { details: { name } });
    }
    if (typeof expectedGeneration !== 'bigint' || expectedGeneration < 0n) {
      throw new CosignerError('ERR_INVALID_ARGUMENT', 'expectedGeneration must be a non-negative bigint');
    }
    return this.locked(name, async () => {
      const path = join(this.dbDir, name);
      const current = await this.read(path, name);
      const have = current?.generation ?? 0n;
      if (have !== expectedGeneration) {
        throw new CosignerError('ERR_GENERATION_CONFLICT', `blob ${name} is at generation ${have}, not ${expectedGeneration}`, {
          details: { name, current: have.toString(), expected: expectedGeneration.toString() },
        });
      }
      const next = have + 1n;
      if (current) await this.backup(path, name, have);
      const file = encodeBlobFile(next, data);
      await this.writeAtomic(this.dbDir, name, file);
      await this.copyNewest(name, next, file);
      await this.prune(name);
      return next;
    });
  }

  /**
   * A copy (not a link: a damaged db/ file must not damage it too) of the generation just written.
   * Best effort: the write itself has committed, so a failure here is not the caller's failure; the
   * next write's backup() links the superseded file in any case.
   */
  private async copyNewest(name: string, generation: bigint, file: Buffer): Promise<void> {
    if (this.keep === 0) return;
    await this.writeAtomic(this.backupDir, `${name}.g${generation}`, file).catch(() => undefined);
  }

  /** Every generation file in backup/ (the current one's copy included), newest first; `current` is db/'s generation or null. */
  async generations(name?: string): Promise<{ entries: BackupEntry[]; current: Map<string, bigint | null> }> {
    const entries = await this.scanBackups(name);
    const current = new Map<string, bigint | null>();
    for (const n of new Set([...entries.map((e) => e.name), ...(name !== undefined ? [name] : [])])) {
      current.set(n, await this.get(n).then((b) => b?.generation ?? null, () => null));
    }
    return { entries, current };
  }

  /**
   * Replaces db/`name` with backup `generation` as a new store generation, even when the current
   * file is unreadable. Policy (which generation may be restored) is the caller's
   * (parent/storage/backups.ts); the enclave checks its own sealed generation regardless.
   */
  async replaceFromBackup(name: string, generation: bigint): Promise<bigint> {
    validateBlobName(name);
    const old = await this.read(join(this.backupDir, `${name}.g${generation}`), name);
    if (!old) throw new CosignerError('ERR_NOT_FOUND', `no backup of ${name} at generation ${generation}`, { details: { name } });
    return this.locked(name, async () => {
      const path = join(this.dbDir, name);
      const current = await this.read(path, name).catch(() => null);
      const newestBackup = (await this.scanBackups(name))[0]?.generation ?? 0n;
      const have = current?.generation ?? 0n;
      const next = (have > newestBackup ? have : newestBackup) + 1n;
      if (current) await this.backup(path, name, have);
      const file = encodeBlobFile(next, old.data);
      await this.writeAtomic(this.dbDir, name, file);
      await this.copyNewest(name, next, file);
      await this.prune(name);
      return next;
    });
  }

  /** Superseded generations kept in backup/ (not the copy of the current one), newest first; all blobs when `name` is omitted. */
  async listBackups(name?: string): Promise<BackupEntry[]> {
    const { entries, current } = await this.generations(name);
    return entries.filter((e) => current.get(e.name) !== e.generation);
  }

  private async scanBackups(name?: string): Promise<BackupEntry[]> {
    if (name !== undefined) validateBlobName(name);
    let files: string[];
    try {
      files = await this.fs.readdir(this.backupDir);
    } catch (err) {
      throw storageError(err, 'listing backups of', name ?? '*');
    }
    const out: BackupEntry[] = [];
    for (const f of files) {
      const m = BACKUP_RE.exec(f);
      if (!m || (name !== undefined && m[1] !== name)) continue;
      try {
        const st = await this.fs.stat(join(this.backupDir, f));
        out.push({ name: m[1]!, generation: BigInt(m[2]!), size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // pruned concurrently: skip
      }
    }
    return out.sort((a, b) => (a.name === b.name ? (b.generation > a.generation ? 1 : -1) : a.name < b.name ? -1 : 1));
  }

  /**
   * Makes backup `generation` of `name` current again, as a NEW store generation (the store's
   * generations only grow; the current blob is itself backed up first). The enclave will still
   * refuse it as a rollback unless the operator also unseals with `allowRollbackTo`.
   * Returns the new store generation.
   */
  async restoreBackup(name: string, generation: bigint): Promise<bigint> {
    validateBlobName(name);
    const backupPath = join(this.backupDir, `${name}.g${generation}`);
    const old = await this.read(backupPath, name);
    if (!old) throw new CosignerError('ERR_NOT_FOUND', `no backup of ${name} at generation ${generation}`, { details: { name } });
    const current = await this.get(name);
    return this.put(name, old.data, current?.generation ?? 0n);
  }

  private async read(path: string, name: string): Promise<StoredBlob | null> {
    let file: Buffer;
    try {
      const st = await this.fs.stat(path);
      if (st.size > MAX_BLOB_BYTES + 64) throw new CosignerError('ERR_STORAGE', `stored blob ${name} is too large`, { details: { name } });
      file = await this.fs.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw storageError(err, 'reading', name);
    }
    return decodeBlobFile(name, file);
  }

  private async backup(path: string, name: string, generation: bigint): Promise<void> {
    if (this.keep === 0) return;
    const dest = join(this.backupDir, `${name}.g${generation}`);
    try {
      // A hard link costs no space and is atomic; the rename that follows replaces only the db/ entry.
      await this.fs.link(path, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP') {
        try {
          const data = await this.fs.readFile(path);
          await this.writeAtomic(this.backupDir, `${name}.g${generation}`, data);
          return;
        } catch (err2) {
          throw storageError(err2, 'backing up', name);
        }
      }
      throw storageError(err, 'backing up', name);
    }
  }

  private async prune(name: string): Promise<void> {
    // Read db/ directly: prune runs under the blob's lock, where get() would not wait its turn anyway.
    const cur = await this.read(join(this.dbDir, name), name).then((b) => b?.generation ?? null, () => null);
    const all = (await this.scanBackups(name).catch(() => [])).filter((b) => b.generation !== cur);
    for (const b of all.slice(this.keep)) {
      await this.fs.unlink(join(this.backupDir, `${b.name}.g${b.generation}`)).catch(() => undefined);
    }
  }

  private async writeAtomic(dir: string, name: string, bytes: Buffer): Promise<void> {
    const tmp = join(dir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const fh = await this.fs.open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.fs.rename(tmp, join(dir, name));
    } catch (err) {
      await this.fs.unlink(tmp).catch(() => undefined);
      throw storageError(err, 'writing', name);
    }
    await this.syncDir(dir, name);
  }

  private async syncDir(dir: string, name: string): Promise<void> {
    try {
      const dh = await this.fs.open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      throw storageError(err, 'syncing the directory of', name);
    }
  }

  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }
}
