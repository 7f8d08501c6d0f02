// Test helper: a daemon in local mode whose "enclave" is fake-enclave.ts, everything under a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parseConfig, type DaemonConfig } from '../../../parent/config/config.ts';
import { startDaemon, type DaemonOverrides, type RunningDaemon } from '../../../parent/daemon/daemon.ts';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '..', '..', '..');
// The bundle reads the wire schema from here (proto/runtime/schema.ts).
process.env.COSIGNER_PROTO_DIR = join(REPO, 'proto');

const tempDirs: string[] = [];
/** A temp folder removed after the test file (its daemons are closed by then, in the files' afterEach). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
/** Removes every folder tempDir() made (after each test file; the daemon benchmark calls it at its end). */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  bundled = null;
}
// The daemon benchmark (test/bench/daemon.bench.ts) also uses these helpers outside vitest, where
// importing vitest throws: register the cleanup hook only under vitest.
if (process.env.VITEST) {
  const { afterAll } = await import('vitest');
  afterAll(removeTempDirs);
}

let bundled: string | null = null;
/**
 * The fake enclave bundled once per test file with esbuild, the way the real enclave ships, so each
 * enclave (re)start costs a plain `node` start instead of a TypeScript compile.
 */
export async function fakeEnclaveBundle(): Promise<string> {
  if (bundled) return bundled;
  const out = join(tempDir('fake-enclave-'), 'fake-enclave.mjs');
  await build({
    entryPoints: [join(here, 'fake-enclave.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: out,
    external: ['cbor-extract'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  bundled = out;
  return out;
}

export async function testConfig(extra: Record<string, unknown> = {}): Promise<DaemonConfig> {
  const dir = tempDir('cosd-');
  return parseConfig({
    mode: 'local',
    home: join(dir, 'home'),
    bundlePath: await fakeEnclaveBundle(),
    wireUrl: `unix://${join(dir, 'enclave.sock')}`,
    controlSocket: join(dir, 'ctl', 'control.sock'),
    metricsAddress: '127.0.0.1:0',
    restartInitialMs: 50,
    restartMaxMs: 200,
    healthIntervalMs: 200,
    logMaxBytes: 64 * 1024,
    logKeep: 3,
    ...extra,
  });
}

export async function startTestDaemon(extra: Record<string, unknown> = {}, overrides: DaemonOverrides = {}): Promise<RunningDaemon> {
  return startDaemon(await testConfig(extra), {
    credentials: { get: async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-canary-123', sessionToken: 'tok' }) },
    ...overrides,
  });
}
