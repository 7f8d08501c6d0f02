import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'cosigner-eif-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(pinFile: string): { status: number | null; stderr: string } {
  const r = spawnSync('bash', [join(repo, 'scripts/build-eif.sh')], {
    cwd: repo,
    env: { ...process.env, BASE_IMAGES: pinFile, OUT_DIR: join(dir, 'out'), PATH: '/usr/bin:/bin' },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

describe('scripts/build-eif.sh base-image pins', () => {
  it('refuses the shipped, unpinned base images before touching Docker', () => {
    const r = run(join(repo, 'enclave/base-images.env'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('is not pinned by digest');
  });

  it('refuses a tag without a digest and a malformed digest', () => {
    for (const ref of ['node:20-bookworm-slim', 'node:20@sha256:abc']) {
      const f = join(dir, `pins-${ref.length}.env`);
      writeFileSync(f, `NODE_BUILDER=${ref}\nNODE_RUNTIME=gcr.io/distroless/nodejs20-debian12@sha256:${'a'.repeat(64)}\n`);
      const r = run(f);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(ref);
    }
  });

  it('accepts real sha256 pins and goes on to look for its tools', () => {
    const f = join(dir, 'pinned.env');
    writeFileSync(f, `NODE_BUILDER=node:20@sha256:${'b'.repeat(64)}\nNODE_RUNTIME=distroless@sha256:${'c'.repeat(64)}\n`);
    const r = run(f);
    expect(r.stderr).not.toContain('not pinned');
    // No nitro-cli on this machine (and PATH is minimal): the script stops at its tool check.
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not installed/);
  });
});
