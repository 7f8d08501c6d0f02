// The import rules in .dependency-cruiser.cjs are only worth something if they fire. Each case builds
// a tiny tree in a temp folder that breaks (or keeps) one rule and runs the real cruiser on it with the
// project's own config.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const cruiser = join(repoRoot, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const config = join(repoRoot, '.dependency-cruiser.cjs');
const run = promisify(execFile);
const roots: string[] = [];

afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Writes `files` (path → source) into a fresh tree and returns the rule violations the cruiser reports. */
async function cruise(files: Record<string, string>): Promise<Violation[]> {
  const root = mkdtempSync(join(tmpdir(), 'cosigner-layout-'));
  roots.push(root);
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { allowImportingTsExtensions: true, module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true } }));
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  const folders = [...new Set(Object.keys(files).map((path) => path.split('/')[0]!))];
  // The cruiser exits non-zero when it finds an error-level violation; the JSON is on stdout either way.
  const out = await run(process.execPath, [cruiser, '--config', config, '--output-type', 'json', ...folders], { cwd: root }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const report = JSON.parse(out.stdout) as { summary: { violations: Violation[] } };
  return report.summary.violations;
}

const leaf = 'export const x = 1;\n';
const importing = (to: string) => `import { x } from '../${to}';\nexport const y = x;\n`;

// One tree holding every case, cruised once: each cruiser run costs seconds on a loaded machine.
const allowed: Record<string, string> = {
  'proto/ok.ts': leaf,
  'enclave/ok.ts': importing('proto/ok.ts'),
  'parent/ok.ts': importing('proto/ok.ts'),
  'local/ok.ts': "import { y } from '../enclave/ok.ts';\nimport { y as z } from '../parent/ok.ts';\nexport const w = y + z;\n",
};
const broken: Array<[rule: string, from: string, to: string]> = [
  ['enclave-not-to-outside', 'enclave/to-parent.ts', 'parent/target.ts'],
  ['enclave-not-to-outside', 'enclave/to-local.ts', 'local/target.ts'],
  ['enclave-not-to-outside', 'enclave/to-test.ts', 'test/target.ts'],
  ['enclave-not-to-outside', 'enclave/to-scripts.ts', 'scripts/target.ts'],
  ['parent-not-to-enclave', 'parent/to-enclave.ts', 'enclave/target.ts'],
  ['parent-not-to-enclave', 'parent/to-scripts.ts', 'scripts/target.ts'],
  ['parent-not-to-enclave', 'parent/to-local.ts', 'local/target.ts'],
  ['proto-is-a-leaf', 'proto/to-enclave.ts', 'enclave/target.ts'],
  ['proto-is-a-leaf', 'proto/to-parent.ts', 'parent/target.ts'],
  ['proto-is-a-leaf', 'proto/to-local.ts', 'local/target.ts'],
  ['proto-is-a-leaf', 'proto/to-test.ts', 'test/target.ts'],
  ['local-not-to-tests-or-scripts', 'local/to-test.ts', 'test/target.ts'],
  ['local-not-to-tests-or-scripts', 'local/to-scripts.ts', 'scripts/target.ts'],
];
const tree: Record<string, string> = {
  ...allowed,
  ...Object.fromEntries(['enclave', 'parent', 'proto', 'local', 'test', 'scripts'].map((d) => [`${d}/target.ts`, leaf])),
  ...Object.fromEntries(broken.map(([, from, to]) => [from, importing(to)])),
  // A dynamic import and a type-only import are dependencies too.
  'enclave/dynamic.ts': "export async function f() { return (await import('../parent/target.ts')).x; }\n",
  'enclave/type-only.ts': "import type { X } from '../local/types.ts';\nexport const y: X = 1;\n",
  'local/types.ts': 'export type X = number;\n',
  // An import that does not resolve must not slip past the rules unseen.
  'enclave/unresolved.ts': importing('parent/missing.ts'),
};

describe('layout import rules', () => {
  let violations: Violation[] = [];
  const of = (from: string) => violations.filter((v) => v.from === from).map((v) => [v.rule.name, v.to]);

  beforeAll(async () => {
    violations = await cruise(tree);
  });

  it('accepts the allowed directions (both sides to proto/, local/ to enclave/ and parent/)', () => {
    for (const from of Object.keys(allowed)) expect(of(from)).toEqual([]);
    expect(violations.length).toBeGreaterThan(0);
  });

  it.each(broken)('%s: %s importing %s is an error', (rule, from, to) => {
    expect(of(from)).toEqual([[rule, to]]);
  });

  it('catches dynamic and type-only imports too', () => {
    expect(of('enclave/dynamic.ts')).toEqual([['enclave-not-to-outside', 'parent/target.ts']]);
    expect(of('enclave/type-only.ts')).toEqual([['enclave-not-to-outside', 'local/types.ts']]);
  });

  it('treats an import that does not resolve as an error rather than skipping it', () => {
    expect(of('enclave/unresolved.ts').map(([rule]) => rule)).toContain('not-to-unresolvable');
  });

  it('reports nothing it was not asked to', () => {
    expect(violations).toHaveLength(broken.length + 3);
  });
});
