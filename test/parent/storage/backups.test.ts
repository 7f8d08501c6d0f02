import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../../parent/storage/file-blob-store.ts';
import { listGenerations, restoreGeneration } from '../../../parent/storage/backups.ts';
import { tempDir } from '../../support/temp-dir.ts';

const code = (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (e: { code?: string }) => e.code);

async function storeWith(n: number): Promise<{ s: FileBlobStore; home: string }> {
  const home = tempDir('backups-');
  const s = await FileBlobStore.open(home, { keepBackups: 3 });
  let g = 0n;
  for (let i = 1; i <= n; i++) g = await s.put('secrets.db', Buffer.from(`v${i}`), g);
  return { s, home };
}

describe('cosigner backups', () => {
  it('keeps a copy of the newest generation in backup/ and lists which one is current', async () => {
    const { s } = await storeWith(5);
    const list = await listGenerations(s);
    expect(list.map((b) => [b.generation, b.current, b.newest])).toEqual([['5', true, true], ['4', false, false], ['3', false, false], ['2', false, false]]);
    expect(list[0]?.size).toBeGreaterThan(0);
    // The superseded-only view the enclave-side tests use is unchanged.
    expect((await s.listBackups('secrets.db')).map((b) => b.generation)).toEqual([4n, 3n, 2n]);
  });

  it('refuses to restore an older generation (ERR_RESTORE_REFUSED) and changes nothing', async () => {
    const { s } = await storeWith(4);
    expect(await code(restoreGeneration(s, 'secrets.db', 3n, true))).toBe('ERR_RESTORE_REFUSED');
    expect(Buffer.from((await s.get('secrets.db'))!.data).toString()).toBe('v4');
    expect((await s.get('secrets.db'))!.generation).toBe(4n);
  });

  it('restores only with the enclave stopped, and only generations that exist', async () => {
    const { s } = await storeWith(2);
    expect(await code(restoreGeneration(s, 'secrets.db', 2n, false))).toBe('ERR_STATE');
    expect(await code(restoreGeneration(s, 'secrets.db', 9n, true))).toBe('ERR_NOT_FOUND');
  });

  it('replaces a damaged or deleted db/ file with the newest generation', async () => {
    const { s, home } = await storeWith(3);
    const path = join(home, 'db', 'secrets.db');
    writeFileSync(path, 'scribbled');
    expect(await code(s.get('secrets.db'))).toBe('ERR_STORAGE');
    const r = await restoreGeneration(s, 'secrets.db', 3n, true);
    expect(r.storeGeneration).toBe('4');
    expect(Buffer.from((await s.get('secrets.db'))!.data).toString()).toBe('v3');
    rmSync(path);
    await restoreGeneration(s, 'secrets.db', 4n, true);
    expect(Buffer.from((await s.get('secrets.db'))!.data).toString()).toBe('v3');
    // The backup copy is a copy, not a link: damaging db/ in place leaves it intact.
    writeFileSync(path, 'scribbled again');
    expect((await listGenerations(s))[0]?.generation).toBe('5');
    await restoreGeneration(s, 'secrets.db', 5n, true);
    expect(Buffer.from((await s.get('secrets.db'))!.data).toString()).toBe('v3');
  });
});
