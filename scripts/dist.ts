// Build host only (`make dist`). The release an operator installs: one tarball that runs next to a
// Node 24 binary, with no npm, no node_modules and no compiler on the host.
//
//   dist/nitro-cosigner-<version>/            the staged tree (also the `make eif` Docker context)
//   dist/nitro-cosigner-<version>.tar.gz      that tree, reproducible (sorted, fixed mtimes, gzip -n)
//   dist/nitro-cosigner-<version>.tar.gz.sha256
//
// Layout of the tree:
//   bin/cosigner, bin/cosigner-parent   launchers (#!/usr/bin/env node) of the bundles in lib/parent/
//   lib/parent/*.mjs                    esbuild bundles of parent/cli/main.ts and parent/daemon/main.ts;
//                                       two folders deep so parent/config's REPO_ROOT is the tree's root
//   build/enclave-{dev,nsm}.mjs (+.json), build/measurements-dev.json, build/proto/, build/native/*.node
//                                       the enclave bundles exactly as `make bundle` writes them; the
//                                       parent bundles find the vsock addon and the schema here too
//   scripts/build-eif.sh, run-enclave.sh, key-policy.mjs, cosigner-parent.service
//   enclave/Dockerfile, enclave/base-images.env   what scripts/build-eif.sh builds the EIF from
//   docs/*.md, README.md, LICENSE, package.json (name, version, "type": "module"; no dependencies)
//
// The tarball's bytes depend only on the tree's bytes and SOURCE_DATE_EPOCH (default: the last
// commit's time): entries sorted by name, owner 0:0, modes 0755/0644, mtimes clamped, gzip without a
// name or timestamp. The native addons are the ones `make native` built on this host, so the SHA-256
// covers exactly the binaries that run (and that enclave/Dockerfile copies into the EIF).
import { build, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleEnclave, copyRuntimeFiles, writeDevMeasurements } from './bundle-enclave.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What one dist build produced. */
export interface DistResult {
  readonly version: string;
  /** The staged tree (unpacked form of the tarball). */
  readonly tree: string;
  readonly tarball: string;
  readonly sha256: string;
}

// Run-time lookups of the parent bundles, relative to lib/parent/<bundle>.mjs: the wire schema
// (read by reflection) and the vsock addon sit in build/ beside the enclave bundles. Explicit
// environment settings win, as in enclave/services/bundle-env.ts.
const PARENT_BANNER = [
  "import { createRequire as __cosignerCreateRequire } from 'node:module';",
  "import { fileURLToPath as __cosignerFileURLToPath } from 'node:url';",
  'const require = __cosignerCreateRequire(import.meta.url);',
  "process.env.COSIGNER_PROTO_DIR ??= __cosignerFileURLToPath(new URL('../../build/proto', import.meta.url));",
  "process.env.COSIGNER_VSOCK_ADDON ??= __cosignerFileURLToPath(new URL('../../build/native/vsock.node', import.meta.url));",
  "process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';",
].join('\n');

// parent/cli/main.ts loads verify-attestation with `import(new URL('./x.ts', import.meta.url).href)`,
// which a bundler cannot follow (and a bundle has no .ts beside it). Rewrite that form to a plain
// relative import when loading the sources, so esbuild bundles the module like any other.
const staticUrlImports: Plugin = {
  name: 'static-url-imports',
  setup(b) {
    b.onLoad({ filter: /[\\/]parent[\\/].*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const contents = text.replace(/import\(new URL\((['"])(\.\/[\w./-]+\.ts)\1, import\.meta\.url\)\.href\)/g, "import('$2')");
      return { contents, loader: 'ts' };
    });
  },
};

// Native addons and optional accelerators stay outside the bundles (see scripts/bundle-enclave.ts).
const externalNative: Plugin = {
  name: 'external-native',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** One self-contained ESM bundle for Node 24 whose entry runs `main(argv)` of `module`. */
async function bundleCommand(module: string, outfile: string, banner = PARENT_BANNER): Promise<void> {
  const result = await build({
    absWorkingDir: repoRoot,
    stdin: {
      contents: `import { main } from './${module}';\nprocess.exitCode = await main(process.argv.slice(2));\n`,
      resolveDir: repoRoot,
      sourcefile: `${module}#entry`,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    write: false,
    outfile,
    external: ['cbor-extract', 'aws-crt', '@aws-sdk/signature-v4-crt'],
    plugins: [externalNative, staticUrlImports],
    banner: { js: banner },
    legalComments: 'none',
    sourcemap: false,
    charset: 'utf8',
    logLevel: 'warning',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`dist: esbuild produced no output for ${module}`);
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, file.contents);
}

/** The key-policy command (scripts/key-policy.ts) as a script an operator runs with node. */
async function bundleKeyPolicy(outfile: string): Promise<void> {
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [join(repoRoot, 'scripts', 'key-policy.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    write: false,
    outfile,
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __cosignerCreateRequire } from 'node:module';\nconst require = __cosignerCreateRequire(import.meta.url);" },
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('dist: esbuild produced no output for key-policy');
  await writeFile(outfile, file.contents);
}

const launcher = (what: string, bundle: string): string =>
  `#!/usr/bin/env node\n// nitro-cosigner release: ${what}. Needs Node 24; everything else is in this tree.\nimport '../lib/parent/${bundle}';\n`;

/** Files copied as they are: [source in the repository, path in the tree, executable]. */
const COPIED: readonly (readonly [string, string, boolean])[] = [
  ['scripts/build-eif.sh', 'scripts/build-eif.sh', true],
  ['scripts/run-enclave.sh', 'scripts/run-enclave.sh', true],
  ['scripts/cosigner-parent.service', 'scripts/cosigner-parent.service', false],
  ['enclave/Dockerfile', 'enclave/Dockerfile', false],
  ['enclave/base-images.env', 'enclave/base-images.env', false],
  ['README.md', 'README.md', false],
  ['LICENSE', 'LICENSE', false],
];

async function stageTree(tree: string, version: string): Promise<void> {
  await bundleCommand('parent/cli/main.ts', join(tree, 'lib', 'parent', 'cosigner.mjs'));
  await bundleCommand('parent/daemon/main.ts', join(tree, 'lib', 'parent', 'cosigner-parent.mjs'));
  await mkdir(join(tree, 'bin'), { recursive: true });
  await writeFile(join(tree, 'bin', 'cosigner'), launcher('the operator CLI', 'cosigner.mjs'));
  await writeFile(join(tree, 'bin', 'cosigner-parent'), launcher('the parent daemon', 'cosigner-parent.mjs'));

  const buildDir = join(tree, 'build');
  for (const mode of ['dev', 'nsm'] as const) await bundleEnclave(mode, buildDir);
  await writeDevMeasurements(join(buildDir, 'enclave-dev.mjs'), join(buildDir, 'measurements-dev.json'));
  const missing = await copyRuntimeFiles(buildDir);
  if (missing.length > 0) throw new Error(`dist: native addons not built (run make native): ${missing.join(', ')}`);

  await mkdir(join(tree, 'scripts'), { recursive: true });
  await bundleKeyPolicy(join(tree, 'scripts', 'key-policy.mjs'));
  for (const [from, to] of COPIED) {
    await mkdir(dirname(join(tree, to)), { recursive: true });
    await copyFile(join(repoRoot, from), join(tree, to));
  }
  await mkdir(join(tree, 'docs'), { recursive: true });
  for (const f of (await readdir(join(repoRoot, 'docs'))).filter((n) => n.endsWith('.md')).sort()) {
    await copyFile(join(repoRoot, 'docs', f), join(tree, 'docs', f));
  }
  // "type": "module" makes the extension-less launchers ESM; no dependencies: nothing to install.
  const pkg = { name: 'nitro-cosigner', version, private: true, license: 'Apache-2.0', type: 'module', engines: { node: '>=24' } };
  await writeFile(join(tree, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
}

/** Every file under `dir`, as paths relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

// Executables in the tree: the launchers, the shell scripts, key-policy.mjs. Everything else 0644.
const isExecutable = (rel: string): boolean => rel.startsWith('bin/') || rel.endsWith('.sh') || rel === 'scripts/key-policy.mjs';

/** Normalise modes, then tar + gzip reproducibly (GNU tar). */
async function packTree(tree: string, tarball: string, epoch: number): Promise<void> {
  for (const rel of await listFiles(tree)) await chmod(join(tree, rel), isExecutable(rel) ? 0o755 : 0o644);
  const name = relative(dirname(tree), tree);
  const tar = execFileSync(
    'tar',
    ['--sort=name', `--mtime=@${epoch}`, '--clamp-mtime', '--owner=0', '--group=0', '--numeric-owner', '--mode=go-w',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '--format=posix', '-cf', '-', name],
    { cwd: dirname(tree), maxBuffer: 1 << 30 },
  );
  const gz = execFileSync('gzip', ['-n', '-9'], { input: tar, maxBuffer: 1 << 30 });
  await writeFile(tarball, gz);
}

function sourceDateEpoch(): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && env !== '') {
    if (!/^\d+$/.test(env)) throw new Error(`dist: SOURCE_DATE_EPOCH must be seconds since 1970, got ${JSON.stringify(env)}`);
    return Number(env);
  }
  try {
    return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()) || 0;
  } catch {
    return 0;
  }
}

/** Build the release into `outDir` (default dist/). Replaces an earlier tree of the same version. */
export async function buildDist(outDir = join(repoRoot, 'dist')): Promise<DistResult> {
  const version = (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const base = `nitro-cosigner-${version}`;
  const tree = join(outDir, base);
  await rm(tree, { recursive: true, force: true });
  await mkdir(tree, { recursive: true });
  await stageTree(tree, version);
  const tarball = join(outDir, `${base}.tar.gz`);
  await packTree(tree, tarball, sourceDateEpoch());
  const sha256 = createHash('sha256').update(await readFile(tarball)).digest('hex');
  // The `sha256sum -c` format, so an operator checks the download with the standard tool.
  await writeFile(`${tarball}.sha256`, `${sha256}  ${base}.tar.gz\n`);
  return { version, tree, tarball, sha256 };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildDist(process.argv[2] ? resolve(process.argv[2]) : undefined).then(
    (r) => process.stdout.write(`dist: ${relative(process.cwd(), r.tarball)}  sha256 ${r.sha256}\n`),
    (err: unknown) => {
      process.stderr.write(`dist: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
