// Runs on the parent (the `cosigner` CLI). Helpers every command module shares: the typed daemon
// call, a required value (flag, else prompt), and bounded reads of small files given by path.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CosignerError } from '../../proto/errors.ts';
import { callDaemon } from '../control/client.ts';
import type { ControlArgs, ControlMethod } from '../control/method-types.ts';
import type { ParsedCommand } from './args.ts';
import { usage, type CliIo } from './io.ts';
import type { Prompter } from './prompt.ts';

export type Obj = Record<string, unknown>;
/** A value for human output: '-' when empty. */
export const s = (v: unknown): string => (v === undefined || v === null || v === '' ? '-' : String(v));

// The CLI reads every result as a loose object and renders what it finds, so it asks only for the
// params to be checked here.
export async function call<M extends ControlMethod>(p: ParsedCommand, method: M, ...args: ControlArgs<M>): Promise<Obj> {
  return (await callDaemon(p.socket, method, ...args)) as Obj;
}

/** A required value: from its flag, else a prompt, else (non-interactive) ERR_USAGE naming the flag. */
export async function required(p: ParsedCommand, prompter: Prompter | null, flag: string, question: string): Promise<string> {
  const v = p.values[flag];
  if (typeof v === 'string' && v !== '') return v;
  if (!prompter) throw usage(`--${flag} is required in non-interactive use (stdin is not a terminal or --yes was given)`);
  const a = await prompter.ask(question);
  if (a === '') throw usage(`--${flag} (${question}) is required`);
  return a;
}

/** A path as the operator typed it, made absolute against the CLI's working directory. */
export function absolute(io: CliIo, path: string): string {
  return resolve(io.cwd ?? process.cwd(), path);
}

/** A small text file (≤ 16 KiB); `flag` names the flag in errors. */
export async function readSmall(path: string, flag: string): Promise<string> {
  try {
    const t = await readFile(path, 'utf8');
    if (t.length > 16 * 1024) throw usage(`${flag}: ${path} is larger than 16 KiB`);
    return t;
  } catch (err) {
    if (err instanceof CosignerError) throw err;
    throw usage(`${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
