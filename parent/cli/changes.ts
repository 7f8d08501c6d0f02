// Runs on the parent (the `cosigner` CLI). Commands that PROPOSE owner-gated changes: the enclave
// takes no orders from the parent (DESIGN invariant 9), so `callback-update` and `remove-user` print a
// pending change for the workspace owner to approve at the coordinator, and `changes` lists them. A
// handler key rotation signed by the current handler key (--rotation-signature FILE) applies at once.
import { readFile } from 'node:fs/promises';
import { CosignerError } from '../../proto/errors.ts';
import type { ParsedCommand } from './args.ts';
import { callbackFromFlags } from './callback-settings.ts';
import { call, s, type Obj } from './common.ts';
import { checkCallbackEgress } from './egress.ts';
import { ok, usage, type CliIo } from './io.ts';
import type { Prompter } from './prompt.ts';

/** A pending change as the operator reads it. */
export function renderPending(c: Obj): string {
  return [
    `change ${s(c.changeId)} (${s(c.kind)}) for user ${s(c.userId)}`,
    `  digest   ${s(c.digest)}`,
    ...((c.summary ?? []) as string[]).map((l) => `  ${l}`),
    `  expires  ${s(c.expiresAt)}`,
  ].join('\n');
}

const OWNER_HINT = 'Nothing has changed yet: approve it at the coordinator as the workspace owner (or reject it there).';

async function readRotation(file: string): Promise<string> {
  let t: string;
  try {
    t = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw usage(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (t.length > 8192 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(t)) throw usage(`${file} does not hold a compact JWS`);
  return t;
}

/** `callback-update USER …`: proposes new handler settings (or applies a signed key rotation). */
export async function callbackUpdateCommand(p: ParsedCommand, io: CliIo, prompter: Prompter | null, pickUser: () => Promise<string>): Promise<number> {
  const v = p.values;
  const userId = p.positionals[0] ?? (await pickUser());
  if (v.confirm === true && !p.json) io.stderr('callback-update: --confirm no longer does anything: the workspace owner approves the change at the coordinator\n');
  const callback = await callbackFromFlags(v, io, prompter, { requireUrl: true, checkUrl: (url) => checkCallbackEgress(p, url) });
  // requireUrl already refuses a missing URL; this only narrows the type for the daemon's required field.
  if (!callback) throw usage('--callback-url is required');
  const rotationSignature = v['rotation-signature'] ? await readRotation(v['rotation-signature'] as string) : undefined;
  const r = await call(p, 'callbackUpdate', { userId, callback, ...(rotationSignature ? { rotationSignature } : {}) });
  return ok(io, p.json, 'callback-update', r, () => {
    if (r.applied === true) return `handler key rotated for ${s(userId)} (signed by the current handler key): ${((r.changed ?? []) as string[]).join(', ')}`;
    const pending = r.pending as Obj | undefined;
    if (!pending) throw new CosignerError('ERR_INTERNAL', 'the enclave returned neither a pending change nor an applied rotation');
    return `proposed a Callback Handler change:\n${renderPending(pending)}\n${OWNER_HINT}`;
  });
}

/** `remove-user USER`: proposes the removal; the user and its key shares stay until the owner approves. */
export async function removeUserCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const userId = p.positionals[0] as string;
  const r = await call(p, 'removeUser', { userId });
  return ok(io, p.json, 'remove-user', r, () => `proposed removing API user ${s(r.userId)}:\n${renderPending((r.pending ?? {}) as Obj)}\n${OWNER_HINT}`);
}

/** `changes`: proposals waiting for the owner. */
export async function changesCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const r = await call(p, 'listChanges');
  const list = (r.changes ?? []) as Obj[];
  return ok(io, p.json, 'changes', r, () => (list.length === 0 ? 'no changes waiting for the workspace owner' : list.map(renderPending).join('\n')));
}
