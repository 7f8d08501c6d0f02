// The production bundle contains production code only: nothing from enclave/dev/ (the development
// attestation authority, its CA writer, the development flags, the accelerated clock) and none of the
// x509 libraries only the development authority uses. A reviewer can check the same by grepping
// build/enclave-nsm.mjs for the markers below. The development bundle is the positive control: every
// marker is found there, so the absence in the NSM bundle is not an artefact of a bad marker list.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleEnclave } from '../../scripts/bundle-enclave.ts';

/** Strings that only development code puts into a bundle. */
const DEV_MARKERS = [
  // the development attestation authority and its CA writer (enclave/dev/dev-authority.ts)
  'DevAuthority',
  'DevAttestor',
  'X509CertificateGenerator',
  'DEV_CA_FILES',
  'loadOrCreate',
  'root.key.pem',
  'intermediate.key.pem',
  'leaf.key.pem',
  'devSections',
  'nitro-cosigner dev-attestation',
  'i-00000000000000000',
  'arn:aws:iam::000000000000:role/nitro-cosigner-dev',
  // the libraries only it uses
  'reflect-metadata',
  'tsyringe',
  'Reflect.getMetadata',
  // the development build profile, its flags and the accelerated clock (enclave/dev/*.ts)
  'parseDevFlags',
  'acceleratedClock',
  'mode: "dev"',
  'dev-ca',
  'tls-ca',
  'instance-id',
  'callback-timeout-ms',
  'callback-retry-interval-ms',
  'callback-retry-total-ms',
  'callback-clock-speedup',
] as const;

describe('production (NSM) bundle', () => {
  let dir: string;
  let dev: string;
  let nsm: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cosigner-nsm-bundle-'));
    const [d, n] = await Promise.all([bundleEnclave('dev', dir), bundleEnclave('nsm', dir)]);
    [dev, nsm] = await Promise.all([readFile(d.path, 'utf8'), readFile(n.path, 'utf8')]);
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the development bundle contains every development marker (positive control)', () => {
    expect(DEV_MARKERS.filter((m) => !dev.includes(m))).toEqual([]);
  });

  it('the NSM bundle contains none of them', () => {
    expect(DEV_MARKERS.filter((m) => nsm.includes(m))).toEqual([]);
  });

  it('the NSM bundle has no module from enclave/dev/ or the x509 libraries (esbuild module comments)', () => {
    // esbuild heads every bundled module with a `// <path>` comment.
    const modules = (text: string): string[] => [...text.matchAll(/^\/\/ (\S+\.[cm]?[jt]s)$/gm)].map((m) => m[1] ?? '');
    const devOnly = (p: string): boolean => /^enclave\/dev\/|node_modules\/(@peculiar\/x509|tsyringe|reflect-metadata)\//.test(p);
    expect(modules(dev).filter(devOnly).length).toBeGreaterThan(3);
    expect(modules(nsm).length).toBeGreaterThan(100);
    expect(modules(nsm).filter(devOnly)).toEqual([]);
  });

  it('the development branch folded away: the NSM bundle selects the production profile only', () => {
    expect(nsm).not.toMatch(/typeof __COSIGNER_ATTESTATION_MODE__/);
    expect(nsm).toMatch(/if \(false\) \{\s*return \(await null\)\.profile;/);
    expect(dev).toMatch(/if \(true\) \{\s*return \(await Promise\.resolve\(\)\.then\(\(\) => \(init_dev_profile\(\), dev_profile_exports\)\)\)\.profile;/);
  });
});
