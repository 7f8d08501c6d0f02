// Kill the writer at random moments during secrets.db writes (SIGKILL, ~30 times): afterwards the
// store must hold exactly the last committed generation or the one being written, and it must open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { FileBlobStore } from '../../../parent/storage/file-blob-store.ts';
import { openDb, sealDb } from '../../../enclave/vault/sealed-db.ts';
import { sampleStateLite } from './fixtures/state-lite.ts';

const here = dirname(fileURLToPath(import.meta.url));
let work: string;
let script: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ncs-crash-'));
  script = join(work, 'db-writer.mjs');
  // Bundled once so each child is plain `node` (fast start), not a TypeScript loader.
  await build({ entryPoints: [join(here, 'fixtures', 'db-writer.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: script, logLevel: 'silent' });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runAndKill(home: string, keyHex: string, delayMs: number): Promise<bigint> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, home, keyHex], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let last = -1n;
    let killed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!killed && out.includes('ready\n')) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (_code, signal) => {
      clearTimeout(guard);
      for (const m of out.matchAll(/committed (\d+)\n/g)) last = BigInt(m[1]!);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited on its own: ${err.slice(0, 500)}`));
      resolve(last);
    });
  });
}

describe('secrets.db survives SIGKILL at random points of a write', () => {
  it('always opens to the last committed or the in-flight generation', async () => {
    const home = join(work, 'home');
    const key = randomBytes(32);
    const store0 = await FileBlobStore.open(home, { keepBackups: 3 });
    await store0.put('secrets.db', sealDb(key, 'secrets.db', 1n, 1n, sampleStateLite('gen-1')), 0n);
    let committed = 1n;
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const outcomes = { old: 0, next: 0 };
    for (let i = 0; i < 30; i++) {
      const reported = await runAndKill(home, key.toString('hex'), Math.floor(rnd() * 25));
      if (reported > committed) committed = reported;
      const store = await FileBlobStore.open(home, { keepBackups: 3 });
      expect(readdirSync(join(home, 'db')).filter((f) => f.includes('.tmp-'))).toEqual([]);
      const blob = await store.get('secrets.db');
      expect(blob).not.toBeNull();
      const opened = openDb(key, 'secrets.db', blob!.data);
      expect(opened.state.users[0]?.id).toBe(`gen-${opened.generation}`);
      expect(opened.generation === committed || opened.generation === committed + 1n).toBe(true);
      if (opened.generation === committed) outcomes.old++;
      else outcomes.next++;
      committed = opened.generation;
    }
    expect(outcomes.old + outcomes.next).toBe(30);
    if (process.env.CRASH_TEST_VERBOSE) console.log(outcomes);
  });
});
