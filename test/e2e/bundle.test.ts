// scripts/bundle-enclave.ts: deterministic bundles, the attestation mode baked in at build time, the
// command-line contract of the bundles (docs/local-mode.md).
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureBundle } from '../../proto/attestation/measure.ts';
import { buildIdFor } from '../../enclave/services/build-id.ts';
import { bundleEnclave, copyRuntimeFiles, writeDevMeasurements, type BundleResult } from '../../scripts/bundle-enclave.ts';

describe('enclave bundles', () => {
  let a: string;
  let b: string;
  let dev: BundleResult;
  let nsm: BundleResult;
  let devAgain: BundleResult;
  beforeAll(async () => {
    a = await mkdtemp(join(tmpdir(), 'cosigner-bundle-a-'));
    b = await mkdtemp(join(tmpdir(), 'cosigner-bundle-b-'));
    // Built side by side so that the determinism check compares builds of the same source tree.
    let again: BundleResult;
    [dev, nsm, again] = await Promise.all([bundleEnclave('dev', a), bundleEnclave('nsm', a), bundleEnclave('dev', b)]);
    devAgain = again;
    await copyRuntimeFiles(a);
  }, 60_000);
  afterAll(async () => {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  });

  it('is deterministic and free of build-host paths', async () => {
    expect(devAgain.sha256).toBe(dev.sha256);
    const text = await readFile(dev.path, 'utf8');
    expect(text).not.toContain(process.cwd());
    expect(text).not.toContain(tmpdir());
    const sidecar = JSON.parse(await readFile(join(a, 'enclave-dev.json'), 'utf8')) as { buildId: string; sha256: string };
    expect(sidecar).toMatchObject({ sha256: dev.sha256, buildId: buildIdFor(await readFile(dev.path)) });
  });

  it('bakes the attestation mode in, so the two modes measure differently', async () => {
    expect(nsm.sha256).not.toBe(dev.sha256);
    const [d, n] = [await readFile(dev.path, 'utf8'), await readFile(nsm.path, 'utf8')];
    // The constant is replaced by a literal: no code reads a variable the environment could set.
    expect(d).not.toMatch(/typeof __COSIGNER_ATTESTATION_MODE__/);
    expect(n).not.toMatch(/typeof __COSIGNER_ATTESTATION_MODE__/);
    // The build profile's selection folded to a literal (test/e2e/nsm-bundle.test.ts checks what that removes).
    expect(n).toMatch(/if \(false\) \{\s*return \(await null\)\.profile;/);
    expect(d).toMatch(/if \(true\) \{\s*return \(await Promise\.resolve\(\)/);
    const m = (await writeDevMeasurements(dev.path, join(a, 'measurements-dev.json'))) as { Measurements: { PCR0: string } };
    expect(m.Measurements.PCR0).toBe(measureBundle(new Uint8Array(await readFile(dev.path))).Measurements.PCR0);
    expect(m.Measurements.PCR0).not.toBe(measureBundle(new Uint8Array(await readFile(nsm.path))).Measurements.PCR0);
  });

  it('the production bundle refuses every development flag; unknown flags are refused', () => {
    const run = (bundle: string, args: string[]) => spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', timeout: 20_000 });
    const sock = `unix://${join(a, 'never.sock')}`;
    for (const extra of [['--dev-ca', a], ['--local'], ['--instance-id', 'i-1'], ['--callback-clock-speedup', '10']]) {
      const r = run(nsm.path, ['--listen', sock, ...extra]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/ERR_USAGE: this is a production \(NSM\) build/);
    }
    const unknown = run(dev.path, ['--listen', sock, '--dev-ca', join(a, 'dev-ca'), '--attestation', 'dev']);
    expect(unknown.status).toBe(2);
    const noDevCa = run(dev.path, ['--listen', sock]);
    expect(noDevCa.status).toBe(2);
    expect(noDevCa.stderr).toMatch(/--dev-ca/);
  });
});
