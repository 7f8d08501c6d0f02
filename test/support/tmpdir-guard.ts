// vitest globalSetup: every test run gets its own temp folder, and a test that leaves anything in it
// fails the run. TMPDIR is set before the test workers start, so they, and every child process they
// spawn (daemons, fake enclaves, scripts), inherit it and os.tmpdir() points here.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Caches of the tools themselves (tsx's compile cache, vite-node's), not files a test made.
const TOOL_CACHES = /^(tsx-\d+|[A-Za-z0-9_-]{21})$/;

export default function setup(): () => void {
  const original = process.env.TMPDIR;
  const runDir = mkdtempSync(join(tmpdir(), 'cosigner-test-run-'));
  process.env.TMPDIR = runDir;
  return () => {
    if (original === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = original;
    const left = readdirSync(runDir).filter((name) => !TOOL_CACHES.test(name));
    rmSync(runDir, { recursive: true, force: true });
    if (left.length > 0) {
      throw new Error(`tests left ${left.length} entries in the temp dir (remove them in afterEach/afterAll): ${left.sort().join(', ')}`);
    }
  };
}
