// The release tarball (scripts/dist.ts, `make dist`): built into a temp folder, unpacked where no
// node_modules can be found, and run with nothing but node.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDist, type DistResult } from '../../scripts/dist.ts';
import { tempDir } from '../support/temp-dir.ts';

let dist: DistResult;
let installed: string;

/** Every ancestor of `dir` (itself included) up to the filesystem root. */
function ancestors(dir: string): string[] {
  const out = [dir];
  while (dir !== parse(dir).root) out.push((dir = dirname(dir)));
  return out;
}

// No NODE_PATH, no npm: only what a host with a bare Node binary has.
const bareEnv = (): NodeJS.ProcessEnv => ({ PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: installed });

function run(bin: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(installed, bin), args, { cwd: installed, env: bareEnv(), encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dist = await buildDist(tempDir('cosigner-dist-out-'));
  const unpackTo = tempDir('cosigner-dist-install-');
  execFileSync('tar', ['-xzf', dist.tarball, '-C', unpackTo]);
  installed = join(unpackTo, `nitro-cosigner-${dist.version}`);
}, 180_000);

describe('make dist', () => {
  it('unpacks where no node_modules resolves', () => {
    for (const d of ancestors(installed)) expect(existsSync(join(d, 'node_modules')), d).toBe(false);
    // And a dependency the sources import cannot be found from inside the tree.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('pino')"], { cwd: installed, env: bareEnv(), encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_MODULE_NOT_FOUND');
  });

  it('bin/cosigner help prints the command list', () => {
    const r = run('bin/cosigner', ['help']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: cosigner <command>/);
    for (const cmd of ['setup', 'status', 'verify-attestation', 'key-policy', 'upgrade']) expect(r.stdout).toContain(cmd);
  });

  it('bin/cosigner-parent --help prints its usage, and a bad config is refused', () => {
    const h = run('bin/cosigner-parent', ['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('usage: cosigner-parent [--config FILE]');
    const bad = run('bin/cosigner-parent', ['--config', join(installed, 'missing.json')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('ERR_CONFIG_INVALID');
  });

  it('bundled commands that load modules lazily still find them (verify-attestation, key-policy)', () => {
    const v = run('bin/cosigner', ['verify-attestation', '--help']);
    expect(v.status).toBe(0);
    expect(v.stdout).toContain('usage: cosigner verify-attestation');
    const k = run('scripts/key-policy.mjs', []);
    expect(k.status).toBe(2);
    expect(k.stderr).toContain('key-policy: ERR_USAGE');
  });

  it('ships the enclave bundles with their addons, schema, unit and docs', () => {
    for (const f of ['build/enclave-nsm.mjs', 'build/enclave-nsm.json', 'build/enclave-dev.mjs', 'build/measurements-dev.json',
      'build/native/vsock.node', 'build/native/nsm.node', 'build/proto/cosigner.proto', 'scripts/build-eif.sh', 'scripts/run-enclave.sh',
      'scripts/cosigner-parent.service', 'enclave/Dockerfile', 'docs/operations.md', 'README.md', 'LICENSE']) {
      expect(existsSync(join(installed, f)), f).toBe(true);
    }
    const nsm = readFileSync(join(installed, 'build/enclave-nsm.mjs'), 'utf8');
    expect(nsm).not.toContain('enclave/dev/');
    expect(nsm).toContain('ERR_PRIVILEGE_DROP');
  });

  it('is reproducible: sorted entries, one fixed mtime, owner 0, gzip without name or time, checksum file', () => {
    const gz = readFileSync(dist.tarball);
    expect(gz.readUInt32LE(4)).toBe(0); // gzip MTIME
    expect(gz[3]! & 0x08).toBe(0); // no FNAME
    const listing = execFileSync('tar', ['--utc', '-tvzf', dist.tarball], { encoding: 'utf8' }).trim().split('\n');
    const names = listing.map((l) => l.split(/\s+/).slice(5).join(' '));
    expect(names).toEqual([...names].sort());
    expect(new Set(listing.map((l) => l.split(/\s+/).slice(3, 5).join(' '))).size).toBe(1);
    expect(listing.every((l) => l.split(/\s+/)[1] === '0/0')).toBe(true);
    const sha = createHash('sha256').update(gz).digest('hex');
    expect(sha).toBe(dist.sha256);
    expect(readFileSync(`${dist.tarball}.sha256`, 'utf8')).toBe(`${sha}  nitro-cosigner-${dist.version}.tar.gz\n`);
  });

  it('holds every file enclave/Dockerfile copies, and the image builds nothing and sets no USER', () => {
    const dockerfile = readFileSync(join(installed, 'enclave/Dockerfile'), 'utf8');
    const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+\s/.test(l));
    const copies = instructions.filter((l) => l.startsWith('COPY '));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const sources = c.split(/\s+/).slice(1).filter((w) => !w.startsWith('--')).slice(0, -1);
      for (const src of sources) expect(existsSync(join(installed, src)), src).toBe(true);
    }
    // nitro-cli ignores USER/WORKDIR (the entrypoint drops root itself); nothing runs at build time.
    expect(instructions.filter((l) => /^(RUN|USER|WORKDIR) /.test(l))).toEqual([]);
    expect(readFileSync(join(installed, 'enclave/base-images.env'), 'utf8')).toMatch(/^NODE_RUNTIME=gcr\.io\/distroless\/nodejs24-/m);
  });
});
