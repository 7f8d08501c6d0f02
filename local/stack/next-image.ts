// Local development host only. A second enclave image for rehearsing an upgrade in local mode.
// Local mode measures an image by the bundle's bytes (proto/attestation/measure.ts: the development
// authority attests PCRs computed from the file the daemon starts), so the smallest honest "new
// release" is the same bundle with a release note appended as a trailing comment: the code that runs
// is identical, but PCR0 and the build id differ exactly as they would for a real new build, and
// the KMS key policy and the coordinator must admit it before it can unseal and connect.
//
//   npx tsx local/stack/next-image.ts [--bundle build/enclave-dev.mjs] [--tag next]
//
// writes, beside the bundle: enclave-dev-<tag>.mjs, its build-id sidecar enclave-dev-<tag>.json
// (the daemon requires the build it starts to state that id) and measurements-dev-<tag>.json.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildIdFor } from '../../enclave/services/build-id.ts';
import { measureBundle } from '../../proto/attestation/measure.ts';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';
import { repoRoot } from './types.ts';

export interface NextImage {
  readonly bundlePath: string;
  readonly measurementsPath: string;
  readonly buildId: string;
  readonly measurements: { readonly PCR0: string; readonly PCR1: string; readonly PCR2: string };
}

/** Writes the tagged copy of `bundlePath` (with its sidecar and measurements) beside it. */
export async function makeNextImage(bundlePath: string, tag = 'next'): Promise<NextImage> {
  if (!/^[a-z0-9][a-z0-9.-]{0,31}$/.test(tag)) throw new Error('tag: lower-case letters, digits, dots and dashes');
  const dir = dirname(bundlePath);
  const stem = basename(bundlePath, '.mjs');
  const mode = stem.replace(/^enclave-/, '');
  const bytes = Buffer.concat([await readFile(bundlePath), Buffer.from(`\n// release ${tag} (local upgrade rehearsal)\n`)]);
  const next = join(dir, `${stem}-${tag}.mjs`);
  const buildId = buildIdFor(bytes);
  await writeFileAtomic(next, bytes);
  await writeFileAtomic(join(dir, `${stem}-${tag}.json`), `${JSON.stringify({ mode, buildId })}\n`);
  const measured = measureBundle(new Uint8Array(bytes));
  const measurementsPath = join(dir, `measurements-${mode}-${tag}.json`);
  await writeFileAtomic(measurementsPath, `${JSON.stringify(measured, null, 2)}\n`);
  const { PCR0, PCR1, PCR2 } = measured.Measurements;
  return { bundlePath: next, measurementsPath, buildId, measurements: { PCR0, PCR1, PCR2 } };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { bundle: { type: 'string' }, tag: { type: 'string' } }, strict: true });
  const n = await makeNextImage(resolve(values.bundle ?? join(repoRoot, 'build', 'enclave-dev.mjs')), values.tag ?? 'next');
  process.stdout.write(`${JSON.stringify(n, null, 2)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`next-image: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
