// The commands README.md and docs/operations.md tell an operator to type are commands the CLI
// accepts: every `cosigner …` line in a code block or inline code span parses with the CLI's own
// strict argument parser (unknown flags, missing or extra arguments are usage errors there), and
// delegated commands exist. A renamed flag or command cannot leave the docs behind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, DELEGATED, parseCommand } from '../../parent/cli/args.ts';

const repo = join(import.meta.dirname, '..', '..');
const DOCS = ['README.md', 'docs/operations.md'];

/** Shell-like split: quotes group words, `# …` ends the line. Enough for documentation lines. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(#.*$)|(\S+)/g)) {
    if (m[3] !== undefined) break;
    out.push(m[1] ?? m[2] ?? m[4] ?? '');
  }
  return out;
}

/** Every documented `cosigner …` invocation of `file`, continuation lines joined. */
function documented(file: string): string[] {
  const text = readFileSync(join(repo, file), 'utf8');
  const lines: string[] = [];
  for (const block of text.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) lines.push(...(block[1] ?? '').replace(/\\\n\s*/g, ' ').split('\n'));
  for (const span of text.matchAll(/`([^`\n]*cosigner [^`\n]+)`/g)) lines.push(span[1] ?? '');
  return lines
    .map((l) => l.trim().replace(/^\$\s+/, ''))
    .filter((l) => /^(?:sudo\s+|npx\s+)?(?:\S*\/)?cosigner\s+[a-z]/.test(l))
    .map((l) => l.replace(/^(?:sudo\s+|npx\s+)?(?:\S*\/)?cosigner\s+/, ''));
}

describe('operator commands in the docs', () => {
  const all = DOCS.flatMap((f) => documented(f).map((cmd) => ({ file: f, cmd })));

  it('finds the documented commands (the extraction itself works)', () => {
    const names = new Set(all.map((c) => words(c.cmd)[0]));
    for (const n of ['setup', 'status', 'add-user', 'upgrade', 'verify-attestation', 'key-policy', 'backups']) expect(names).toContain(n);
    // …and the check below bites: a misspelt flag or a missing argument is a usage error.
    expect(() => parseCommand('add-user', ['--callback-uri', 'https://h'], {})).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    expect(() => parseCommand('remove-user', [], {})).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it.each(DOCS)('every `cosigner …` line in %s is accepted by the CLI parser', (file) => {
    for (const { cmd } of all.filter((c) => c.file === file)) {
      // Placeholders: "[--json]" is an optional flag; "…" stands for a value.
      const argv = words(cmd.replace(/\[(--[a-z-]+)\]/g, '$1')).map((w) => (w === '…' ? 'VALUE' : w));
      const [name, ...rest] = argv as [string, ...string[]];
      // `help` is handled before parsing (parent/cli/main.ts); delegated commands parse their own flags.
      if (name === 'help' || Object.prototype.hasOwnProperty.call(DELEGATED, name)) continue;
      expect(Object.keys(COMMANDS), `${file}: cosigner ${cmd}`).toContain(name);
      expect(() => parseCommand(name, rest, {}), `${file}: cosigner ${cmd}`).not.toThrow();
    }
  });
});
