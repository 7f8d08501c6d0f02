// Reference coordinator (test stand-in, loopback only). The audit log co-signers write to with
// `audit.record`: the copy of every enclave decision that the co-signer's parent instance cannot
// erase. One JSON line per record in `dir/audit.jsonl` (and the newest in memory, bounded). Each
// record is attributed to the co-signer of the authenticated connection it came over, never to a
// field of the record, and kept once per (co-signer, record id): the enclave resends after a
// reconnect until it sees a reply.
import type { KeyObject } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CosignerError } from '../../proto/errors.ts';
import { spkiB64 } from '../../proto/coordinator/envelope.ts';
import { parseAuditRecord, type AuditRecordBody } from '../../proto/coordinator/messages.ts';
import type { CoordinatorState } from './state.ts';

/** Records kept in memory (and re-read from the file's tail at start). */
export const MAX_AUDIT_RECORDS = 10_000;

/** One kept record: the enclave's fields plus who sent it and when it arrived. */
export type AuditLogEntry = AuditRecordBody & { readonly cosignerId: string; readonly receivedAt: number };

interface AuditLog {
  readonly file: string | undefined;
  readonly records: AuditLogEntry[];
  /** `cosignerId\0id` of the kept records that carry an id. */
  readonly ids: Set<string>;
}

const logs = new WeakMap<CoordinatorState, AuditLog>();

const idKey = (cosignerId: string, id: string): string => `${cosignerId}\0${id}`;

function logOf(st: CoordinatorState): AuditLog {
  let log = logs.get(st);
  if (log) return log;
  const file = st.dir ? path.join(st.dir, 'audit.jsonl') : undefined;
  log = { file, records: [], ids: new Set() };
  if (file && existsSync(file)) {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    for (const line of lines.slice(-MAX_AUDIT_RECORDS)) keep(log, JSON.parse(line) as AuditLogEntry);
  }
  logs.set(st, log);
  return log;
}

function keep(log: AuditLog, e: AuditLogEntry): void {
  log.records.push(e);
  if (e.id !== undefined) log.ids.add(idKey(e.cosignerId, e.id));
  while (log.records.length > MAX_AUDIT_RECORDS) {
    const old = log.records.shift();
    if (old?.id !== undefined) log.ids.delete(idKey(old.cosignerId, old.id));
  }
}

/** `audit.record` from a paired co-signer: kept once per id. */
export function appendAudit(st: CoordinatorState, ctx: { readonly cosignerId: string; readonly clientKey: KeyObject }, body: unknown): Record<string, never> {
  // Only a paired co-signer's key may write under its id: an unpaired connection could name any id.
  if (st.cosigners.get(ctx.cosignerId)?.key !== spkiB64(ctx.clientKey)) {
    throw new CosignerError('ERR_PERMISSION_DENIED', 'audit records are kept for paired co-signers only');
  }
  const rec = parseAuditRecord(body);
  const log = logOf(st);
  if (rec.id !== undefined && log.ids.has(idKey(ctx.cosignerId, rec.id))) return {};
  const entry: AuditLogEntry = { ...rec, cosignerId: ctx.cosignerId, receivedAt: st.now() };
  if (log.file) appendFileSync(log.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  keep(log, entry);
  return {};
}

/** The kept records, oldest first (newest last), optionally of one co-signer. */
export function auditRecords(st: CoordinatorState, cosignerId?: string): AuditLogEntry[] {
  const all = logOf(st).records;
  return cosignerId === undefined ? [...all] : all.filter((r) => r.cosignerId === cosignerId);
}
