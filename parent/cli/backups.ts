// Runs on the parent (the `cosigner` CLI). `cosigner backups list` and `cosigner backups restore GEN`
// over the daemon's store (parent/storage/backups.ts decides what may be restored).
import type { ParsedCommand } from './args.ts';
import { call, s, type Obj } from './common.ts';
import { ok, usage, type CliIo } from './io.ts';

function renderGenerations(list: Obj[]): string {
  if (list.length === 0) return 'no backups yet (they appear with the first sealed write)';
  const rows = list.map((b) => [s(b.name), s(b.generation), s(b.time), String(b.size ?? '-'), b.current ? 'current' : b.newest ? 'newest' : '']);
  const head = ['BLOB', 'GENERATION', 'TIME', 'BYTES', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** `backups list` | `backups restore GEN [--blob NAME]`. */
export async function backupsCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const [sub, gen] = p.positionals;
  if (sub === 'list') {
    if (gen !== undefined) throw usage('backups list takes no GEN');
    const r = await call(p, 'listBackups');
    return ok(io, p.json, 'backups', r, () => renderGenerations((r.backups ?? []) as Obj[]));
  }
  if (sub !== 'restore') throw usage(`backups: expected "list" or "restore GEN", got ${String(sub).slice(0, 20)}`);
  if (gen === undefined || !/^\d{1,20}$/.test(gen)) throw usage('backups restore needs GEN, a generation number from `cosigner backups list`');
  const name = (p.values.blob as string | undefined) ?? 'secrets.db';
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) throw usage('--blob must be a blob name such as secrets.db or secrets.key');
  const r = await call(p, 'restoreBackup', { name, generation: gen });
  return ok(io, p.json, 'backups', r, () => `restored ${name} generation ${gen} (now store generation ${s(r.storeGeneration)}); run \`cosigner start\`: it exits 0 only once the co-signer can sign`);
}
