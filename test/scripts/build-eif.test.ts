import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'cosigner-eif-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(pinFile: string, extraPath = ''): { status: number | null; stderr: string } {
  const r = spawnSync('bash', [join(repo, 'scripts/build-eif.sh')], {
    cwd: repo,
    env: { ...process.env, BASE_IMAGES: pinFile, OUT_DIR: join(dir, 'out'), CONTEXT: join(dir, 'empty-tree'), PATH: `${extraPath}/usr/bin:/bin` },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

describe('scripts/build-eif.sh base-image pin and context', () => {
  it('refuses the shipped, unpinned base image before touching Docker', () => {
    const r = run(join(repo, 'enclave/base-images.env'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('is not pinned by digest');
  });

  it('refuses a tag without a digest and a malformed digest', () => {
    for (const ref of ['gcr.io/distroless/nodejs24-debian12:latest', 'gcr.io/distroless/nodejs24-debian12@sha256:abc']) {
      const f = join(dir, `pins-${ref.length}.env`);
      writeFileSync(f, `NODE_RUNTIME=${ref}\n`);
      const r = run(f);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(ref);
    }
  });

  it('accepts real sha256 pins and goes on to look for its tools', () => {
    const f = join(dir, 'pinned.env');
    writeFileSync(f, `NODE_RUNTIME=distroless@sha256:${'c'.repeat(64)}\n`);
    const r = run(f);
    expect(r.stderr).not.toContain('not pinned');
    // No nitro-cli on this machine (and PATH is minimal): the script stops at its tool check.
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not installed/);
  });

  it('refuses a context without the release tree (no make dist) before calling Docker', () => {
    // Stand-ins for the tools, so the script gets past its tool check; docker must never run.
    const tools = join(dir, 'tools');
    mkdirSync(tools, { recursive: true });
    for (const t of ['docker', 'nitro-cli']) writeFileSync(join(tools, t), '#!/bin/sh\necho "$0 called" >&2\nexit 99\n', { mode: 0o755 });
    symlinkSync(process.execPath, join(tools, 'node'));
    const f = join(dir, 'pinned2.env');
    writeFileSync(f, `NODE_RUNTIME=distroless@sha256:${'c'.repeat(64)}\n`);
    const r = run(f, `${tools}:`);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('build/enclave-nsm.mjs missing');
    expect(r.stderr).not.toContain('called');
  });
});
