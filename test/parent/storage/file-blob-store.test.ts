import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fsp from 'node:fs/promises';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlobStore, type StoreFs } from '../../../parent/storage/file-blob-store.ts';
import { rejectionCode as code } from '../../support/error-code.ts';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'ncs-store-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('FileBlobStore', () => {
  it('creates, reads and advances generations with compare-and-swap', async () => {
    const s = await FileBlobStore.open(home);
    expect(await s.get('secrets.db')).toBeNull();
    expect(await s.put('secrets.db', Buffer.from('one'), 0n)).toBe(1n);
    expect(await s.put('secrets.db', Buffer.from('two'), 1n)).toBe(2n);
    const got = await s.get('secrets.db');
    expect(got?.generation).toBe(2n);
    expect(Buffer.from(got!.data).toString()).toBe('two');
    // a fresh instance on the same home sees the persisted generation
    const s2 = await FileBlobStore.open(home);
    expect((await s2.get('secrets.db'))?.generation).toBe(2n);
  });

  it('rejects a stale or future expected generation and leaves the blob alone', async () => {
    const s = await FileBlobStore.open(home);
    await s.put('secrets.db', Buffer.from('one'), 0n);
    expect(await code(s.put('secrets.db', Buffer.from('x'), 0n))).toBe('ERR_GENERATION_CONFLICT');
    expect(await code(s.put('secrets.db', Buffer.from('x'), 5n))).toBe('ERR_GENERATION_CONFLICT');
    expect(Buffer.from((await s.get('secrets.db'))!.data).toString()).toBe('one');
  });

  it('serialises concurrent writers: exactly one of two racing CAS writes wins', async () => {
    const s = await FileBlobStore.open(home);
    const r = await Promise.allSettled([s.put('a', Buffer.from('1'), 0n), s.put('a', Buffer.from('2'), 0n)]);
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
  });

  it('rejects bad names (path traversal, separators, hidden, upper case, too long)', async () => {
    const s = await FileBlobStore.open(home);
    for (const n of ['../x', 'a/b', '.hidden', 'A', '', 'x'.repeat(64), 'a..b', 'a\0b']) {
      expect(await code(s.put(n, Buffer.from('x'), 0n))).toBe('ERR_INVALID_ARGUMENT');
      expect(await code(s.get(n))).toBe('ERR_INVALID_ARGUMENT');
    }
  });

  it('keeps the last N generations as backups and restores one as a new generation', async () => {
    const s = await FileBlobStore.open(home, { keepBackups: 3 });
    let g = 0n;
    for (let i = 1; i <= 6; i++) g = await s.put('secrets.db', Buffer.from(`v${i}`), g);
    const backups = await s.listBackups('secrets.db');
    expect(backups.map((b) => b.generation)).toEqual([5n, 4n, 3n]);
    const restored = await s.restoreBackup('secrets.db', 4n);
    expect(restored).toBe(7n);
    const cur = await s.get('secrets.db');
    expect(Buffer.from(cur!.data).toString()).toBe('v4');
    expect((await s.listBackups('secrets.db'))[0]?.generation).toBe(6n);
    expect(await code(s.restoreBackup('secrets.db', 1n))).toBe('ERR_NOT_FOUND');
  });

  it('reports a scribbled header as ERR_STORAGE instead of returning garbage', async () => {
    const s = await FileBlobStore.open(home);
    await s.put('secrets.db', Buffer.from('data'), 0n);
    const p = join(home, 'db', 'secrets.db');
    const b = readFileSync(p);
    b[5]! ^= 0xff;
    writeFileSync(p, b);
    expect(await code(s.get('secrets.db'))).toBe('ERR_STORAGE');
  });

  it('disk full → ERR_DISK_FULL, the previous generation intact and no temp file left', async () => {
    let fail = false;
    const fs: StoreFs = {
      ...fsp,
      open: (async (...args: Parameters<typeof fsp.open>) => {
        const fh = await fsp.open(...args);
        if (!fail || !String(args[0]).includes('.tmp-')) return fh;
        return new Proxy(fh, {
          get(t, k) {
            if (k === 'writeFile') return async () => { throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }); };
            const v = Reflect.get(t, k);
            return typeof v === 'function' ? v.bind(t) : v;
          },
        });
      }) as typeof fsp.open,
    };
    const s = await FileBlobStore.open(home, { fs });
    await s.put('secrets.db', Buffer.from('good'), 0n);
    fail = true;
    expect(await code(s.put('secrets.db', Buffer.alloc(1000, 1), 1n))).toBe('ERR_DISK_FULL');
    fail = false;
    const cur = await s.get('secrets.db');
    expect(cur?.generation).toBe(1n);
    expect(Buffer.from(cur!.data).toString()).toBe('good');
    expect(readdirSync(join(home, 'db')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // and the store works again once space is back
    expect(await s.put('secrets.db', Buffer.from('next'), 1n)).toBe(2n);
  });

  it('removes temp files a crash left behind when opened', async () => {
    await FileBlobStore.open(home);
    writeFileSync(join(home, 'db', '.secrets.db.tmp-1-abcd'), 'partial');
    await FileBlobStore.open(home);
    expect(readdirSync(join(home, 'db'))).toEqual([]);
  });

  it('refuses an oversized blob', async () => {
    const s = await FileBlobStore.open(home);
    expect(await code(s.put('big', new Uint8Array(16 * 1024 * 1024 + 1), 0n))).toBe('ERR_LIMIT_EXCEEDED');
  });
});
