import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic as writeAsync, writeFileAtomicSync } from '../../../parent/storage/write-file-atomic.ts';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

// The synchronous twin (start-up code of the host-side stand-ins) keeps the same guarantees.
const writeSync = async (path: string, data: Uint8Array | string, mode?: number): Promise<void> => writeFileAtomicSync(path, data, mode);

describe.each([
  ['writeFileAtomic', writeAsync],
  ['writeFileAtomicSync', writeSync],
])('%s', (_name, writeFileAtomic) => {
  it('creates missing folders, replaces content and leaves no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cosigner-atomic-'));
    dirs.push(dir);
    const path = join(dir, 'a', 'b', 'config.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, Buffer.from('two'));
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['config.json']);
  });

  it('applies the requested mode to a secret file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cosigner-atomic-'));
    dirs.push(dir);
    const path = join(dir, 'key.pem');
    await writeFileAtomic(path, 'secret', 0o600);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('keeps the old content and cleans up when the write cannot complete', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cosigner-atomic-'));
    dirs.push(dir);
    const path = join(dir, 'state.json');
    await writeFile(path, 'old');
    // A folder where the target should be: the rename fails after the temporary file was written.
    const blocked = join(dir, 'blocked');
    await writeFileAtomic(join(blocked, 'x'), 'y');
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe('old');
    expect((await readdir(dir)).sort()).toEqual(['blocked', 'state.json']);
  });
});
