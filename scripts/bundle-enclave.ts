// Build host only (`make bundle`). Bundles enclave/main.ts into one ESM file per attestation mode:
//
//   build/enclave-dev.mjs   development attestation authority (__COSIGNER_ATTESTATION_MODE__ = 'dev')
//   build/enclave-nsm.mjs   the real NSM (__COSIGNER_ATTESTATION_MODE__ = 'nsm'), what goes into the EIF
//
// The mode is a compile-time constant so it is part of the measured bytes (DESIGN invariant 5): the
// parent cannot switch a production image to the development authority. In the NSM build the
// constant folds the development branch of enclave/services/build-profile.ts away, so nothing under
// enclave/dev/ is bundled; the `production-only` plugin below turns any other path to development
// code (or to the x509 libraries only the development authority uses) into a build error. Output is deterministic (no
// timestamps, no absolute paths, no source maps) so the same tree gives the same bundle and the same
// PCRs. Native addons (*.node: vsock, nsm) stay external and are loaded from their build directories.
//
// Besides the bundles it writes build/enclave-<mode>.json (sha256, build id) and
// build/measurements-dev.json: the development bundle's measurements in the shape nitro-cli prints,
// which scripts/key-policy.ts turns into the KMS stand-in's key policy.
//
// Command-line contract of the bundles: see the top of enclave/main.ts and docs/local-mode.md.
import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, open, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildIdFor } from '../enclave/services/build-id.ts';

export { buildIdFor };

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The attestation modes a bundle can be built for. */
export type BundleMode = 'dev' | 'nsm';

/** What one bundle build produced. */
export interface BundleResult {
  readonly mode: BundleMode;
  readonly path: string;
  readonly sha256: string;
  readonly buildId: string;
  readonly bytes: number;
}

// Native addons are required at run time from their build folders (relative to the repository, or
// to the image's /app in the EIF); never inline a .node binary.
const externalNative: Plugin = {
  name: 'external-native',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** Development-only code and the libraries only it uses: never resolved into the NSM bundle. */
const DEV_ONLY_DIR = join(repoRoot, 'enclave', 'dev');
const DEV_ONLY_PACKAGES = /^(@peculiar\/x509|tsyringe|reflect-metadata)(\/|$)/;

const productionOnly: Plugin = {
  name: 'production-only',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const devFile = args.path.startsWith('.') && resolve(args.resolveDir, args.path).startsWith(DEV_ONLY_DIR + '/');
      if (!devFile && !DEV_ONLY_PACKAGES.test(args.path)) return undefined;
      return { errors: [{ text: `the NSM bundle must not contain development code: ${relative(repoRoot, args.importer)} imports ${args.path}` }] };
    });
  },
};

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Bundle enclave/main.ts for one mode into `outDir` (default build/). */
export async function bundleEnclave(mode: BundleMode, outDir = join(repoRoot, 'build')): Promise<BundleResult> {
  if (mode !== 'dev' && mode !== 'nsm') throw new Error(`bundle-enclave: unknown mode ${JSON.stringify(mode)}`);
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [join(repoRoot, 'enclave', 'main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    write: false,
    outfile: join(outDir, `enclave-${mode}.mjs`),
    define: { __COSIGNER_ATTESTATION_MODE__: JSON.stringify(mode), __COSIGNER_BUNDLED__: 'true' },
    // cbor-extract is cbor-x's optional native accelerator: absent in the image, cbor-x falls back
    // to JavaScript. The AWS SDK's optional CRT bindings are never used.
    external: ['cbor-extract', 'aws-crt', '@aws-sdk/signature-v4-crt'],
    plugins: mode === 'nsm' ? [externalNative, productionOnly] : [externalNative],
    // Some CommonJS dependencies call require() for Node built-ins; give the ESM bundle a real one.
    banner: {
      js: "import { createRequire as __cosignerCreateRequire } from 'node:module';\nconst require = __cosignerCreateRequire(import.meta.url);",
    },
    legalComments: 'none',
    sourcemap: false,
    minify: false,
    treeShaking: true,
    charset: 'utf8',
    logLevel: 'warning',
    metafile: false,
  });
  const file = result.outputFiles?.[0];
  if (!file) throw new Error(`bundle-enclave: esbuild produced no output for mode ${mode}`);
  const bytes = file.contents;
  const outPath = join(outDir, `enclave-${mode}.mjs`);
  await writeAtomic(outPath, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const buildId = buildIdFor(bytes);
  await writeAtomic(
    join(outDir, `enclave-${mode}.json`),
    JSON.stringify({ mode, file: relative(outDir, outPath), sha256, buildId, bytes: bytes.length }, null, 2) + '\n',
  );
  return { mode, path: outPath, sha256, buildId, bytes: bytes.length };
}

/** Native addons built by `make native`, copied to build/native/ under these names. */
const NATIVE_ADDONS: readonly { name: string; from: string }[] = [
  { name: 'vsock.node', from: join('proto', 'transport', 'vsock', 'native', 'build', 'Release', 'vsock.node') },
  { name: 'nsm.node', from: join('enclave', 'attestation', 'nsm', 'native', 'build', 'Release', 'nsm.node') },
];

/**
 * Copy what the bundle loads at run time beside it: the wire schema (proto/*.proto, read by
 * reflection) and whichever native addons are built. Returns the addons that were missing.
 */
export async function copyRuntimeFiles(outDir: string): Promise<string[]> {
  const protoOut = join(outDir, 'proto');
  await mkdir(protoOut, { recursive: true });
  for (const f of (await readdir(join(repoRoot, 'proto'))).filter((n) => n.endsWith('.proto')).sort()) {
    await writeAtomic(join(protoOut, f), await readFile(join(repoRoot, 'proto', f)));
  }
  const missing: string[] = [];
  for (const a of NATIVE_ADDONS) {
    const src = join(repoRoot, a.from);
    const ok = await stat(src).then((s) => s.isFile(), () => false);
    if (!ok) {
      missing.push(a.name);
      continue;
    }
    await mkdir(join(outDir, 'native'), { recursive: true });
    const tmp = join(outDir, 'native', `${a.name}.tmp-${process.pid}`);
    await copyFile(src, tmp);
    await rename(tmp, join(outDir, 'native', a.name));
  }
  return missing;
}

/**
 * The development bundle's measurements, in the JSON shape `nitro-cli build-enclave` prints, computed
 * by the attestation module's measureBundle (the same mapping the development authority attests).
 */
export async function writeDevMeasurements(bundlePath: string, outPath: string): Promise<unknown> {
  const bytes = await readFile(bundlePath);
  const measure = (await import(pathToFileURL(join(repoRoot, 'proto', 'attestation', 'measure.ts')).href)) as {
    measureBundle(b: Uint8Array): unknown;
  };
  const measurements = measure.measureBundle(new Uint8Array(bytes));
  await writeAtomic(outPath, JSON.stringify(measurements, null, 2) + '\n');
  return measurements;
}

async function main(): Promise<void> {
  const outDir = join(repoRoot, 'build');
  for (const mode of ['dev', 'nsm'] as const) {
    const r = await bundleEnclave(mode, outDir);
    process.stdout.write(`bundle: ${relative(repoRoot, r.path)}  ${r.bytes} bytes  sha256 ${r.sha256}  build id ${r.buildId}\n`);
    if (mode === 'dev') {
      // Right after its bundle, so the two are never out of step (the local KMS policy is built from it).
      const m = await writeDevMeasurements(r.path, join(outDir, 'measurements-dev.json'));
      const pcr0 = (m as { Measurements?: { PCR0?: string } }).Measurements?.PCR0 ?? '?';
      process.stdout.write(`bundle: build/measurements-dev.json  PCR0 ${pcr0}\n`);
    }
  }
  const missing = await copyRuntimeFiles(outDir);
  process.stdout.write(`bundle: build/proto/ written${missing.length ? `; native addons not built (run make native): ${missing.join(', ')}` : ''}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`bundle-enclave: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
