// Runs on the parent. The log sink: enclave and parent records as JSON lines in COSIGNER_HOME/log/,
// rotated by size. `cosigner.log` is the live file, `cosigner.log.1` … `cosigner.log.<keep-1>` the
// older ones; the oldest is deleted on rotation, so at most `keep` files ever exist and disk use is
// bounded by keep × maxBytes (plus one record).
// A failing write (ENOSPC, EIO, a vanished directory) never throws into the caller: the log is called
// from catch blocks and event handlers all over the daemon, and one throw there once killed it and
// orphaned the enclave. Failures are counted (`stats`, the cosigner_log_write_failures_total metric);
// audit records (`"audit":true`) are kept in a bounded buffer and written first once space returns,
// with a note of what was lost; a partly written record is cut back so no truncated JSON line stays.
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** File name of the live log. */
export const LOG_FILE = 'cosigner.log';
/** Longest record kept; an enclave that sends more is truncated, never buffered without bound. */
export const MAX_RECORD_BYTES = 16 * 1024;
/** Audit records held while the log cannot be written; past either bound the oldest are dropped. */
export const AUDIT_BUFFER_RECORDS = 1024;
export const AUDIT_BUFFER_BYTES = 1024 * 1024;

export interface RotatingLogOptions {
  readonly dir: string;
  readonly maxBytes: number;
  /** Total number of files kept, the live one included (>= 1). */
  readonly keep: number;
  /** Called once per failed write with the errno code (for the daemon's metric). */
  readonly onWriteFailure?: (code: string) => void;
}

/** What `cosigner status` shows about the log sink. */
export interface LogStats {
  /** Writes that failed since the daemon started (each one a record not written then). */
  readonly writeFailures: number;
  /** Errno code of the last failure, or null. */
  readonly lastError: string | null;
  /** True while the last write failed (records are being dropped or buffered). */
  readonly failing: boolean;
  /** Non-audit records lost since start. */
  readonly dropped: number;
  /** Audit records held in memory, waiting for space. */
  readonly auditBuffered: number;
  /** Audit records lost because the buffer was full. */
  readonly auditDropped: number;
}

/**
 * Append-only, size-rotated JSON-lines file. Writes are synchronous so records from the enclave and
 * the parent keep their order and nothing is lost when the daemon exits right after a record.
 */
export class RotatingLog {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #onFailure: (code: string) => void;
  #fd: number | null = null;
  #size = 0;
  #closed = false;
  #failures = 0;
  #lastError: string | null = null;
  #failing = false;
  #dropped = 0;
  #droppedSinceNote = 0;
  #auditDropped = 0;
  #auditDroppedSinceNote = 0;
  readonly #audit: Buffer[] = [];
  #auditBytes = 0;

  constructor(opts: RotatingLogOptions) {
    this.#dir = opts.dir;
    this.#maxBytes = opts.maxBytes;
    this.#keep = Math.max(1, Math.floor(opts.keep));
    this.#onFailure = opts.onWriteFailure ?? (() => undefined);
    mkdirSync(this.#dir, { recursive: true, mode: 0o750 });
    this.#open();
  }

  /** Path of the live file. */
  get path(): string {
    return join(this.#dir, LOG_FILE);
  }

  get stats(): LogStats {
    return {
      writeFailures: this.#failures,
      lastError: this.#lastError,
      failing: this.#failing,
      dropped: this.#dropped,
      auditBuffered: this.#audit.length,
      auditDropped: this.#auditDropped,
    };
  }

  #open(): void {
    this.#fd = openSync(this.path, 'a', 0o640);
    this.#size = fstatSync(this.#fd).size;
  }

  /** Append one record (a line without its newline). Rotates first when the file would pass maxBytes. Never throws. */
  write(line: string): void {
    if (this.#closed) return;
    const buf = Buffer.from(line.replace(/[\r\n]+/g, ' ') + '\n', 'utf8');
    const audit = line.includes('"audit":true');
    if (this.#failing || this.#audit.length > 0) {
      if (!this.#recover()) return this.#lose(buf, audit);
    }
    if (!this.#append(buf)) this.#lose(buf, audit);
  }

  /** After failures: write the held audit records, then a note of what was lost. False while still failing. */
  #recover(): boolean {
    while (this.#audit.length > 0) {
      const rec = this.#audit[0]!;
      if (!this.#append(rec)) return false;
      this.#audit.shift();
      this.#auditBytes -= rec.length;
    }
    if (this.#droppedSinceNote > 0 || this.#auditDroppedSinceNote > 0) {
      const note = { level: 40, time: Date.now(), src: 'parent', msg: 'log records lost while the log could not be written', dropped: this.#droppedSinceNote, auditDropped: this.#auditDroppedSinceNote, lastError: this.#lastError };
      if (!this.#append(Buffer.from(JSON.stringify(note) + '\n', 'utf8'))) return false;
      this.#droppedSinceNote = 0;
      this.#auditDroppedSinceNote = 0;
    }
    this.#failing = false;
    return true;
  }

  #lose(buf: Buffer, audit: boolean): void {
    if (!audit) {
      this.#dropped += 1;
      this.#droppedSinceNote += 1;
      return;
    }
    this.#audit.push(buf);
    this.#auditBytes += buf.length;
    while (this.#audit.length > AUDIT_BUFFER_RECORDS || this.#auditBytes > AUDIT_BUFFER_BYTES) {
      this.#auditBytes -= this.#audit.shift()!.length;
      this.#auditDropped += 1;
      this.#auditDroppedSinceNote += 1;
    }
  }

  /** One whole record or nothing: a short write is cut back to the last complete line. */
  #append(buf: Buffer): boolean {
    try {
      if (this.#fd === null) this.#open();
      if (this.#size > 0 && this.#size + buf.length > this.#maxBytes) this.rotate();
      if (this.#fd === null) this.#open();
      const n = writeSync(this.#fd!, buf);
      if (n !== buf.length) throw Object.assign(new Error(`short write (${n} of ${buf.length} bytes)`), { code: 'ENOSPC' });
      this.#size += n;
      return true;
    } catch (err) {
      if (this.#fd !== null) {
        try {
          ftruncateSync(this.#fd, this.#size);
        } catch {
          // Best effort; the reader skips a line that does not parse.
        }
        // Reopened on the next write: an operator who frees space by deleting the live file gets a
        // fresh one instead of writes into the deleted (still full) inode.
        try {
          closeSync(this.#fd);
        } catch {
          // already unusable
        }
        this.#fd = null;
      }
      this.#failures += 1;
      this.#failing = true;
      this.#lastError = (err as NodeJS.ErrnoException).code ?? 'EIO';
      try {
        this.#onFailure(this.#lastError);
      } catch {
        // A metric callback must not turn a log failure into a crash either.
      }
      return false;
    }
  }

  /** Shift cosigner.log.i → .i+1, drop the oldest, start an empty live file. */
  rotate(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
    const name = (i: number): string => join(this.#dir, i === 0 ? LOG_FILE : `${LOG_FILE}.${i}`);
    rmSync(name(this.#keep - 1), { force: true });
    for (let i = this.#keep - 2; i >= 0; i--) {
      if (existsSync(name(i))) renameSync(name(i), name(i + 1));
    }
    if (this.#keep === 1) rmSync(name(0), { force: true });
    this.#open();
  }

  close(): void {
    this.#closed = true;
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/**
 * Normalise one record from the enclave before it is stored. The enclave is trusted to not log
 * secrets, but its bytes cross the parent as untrusted input: cap the size, require one JSON object,
 * and mark the source so an enclave record can never pass for a parent one.
 */
export function enclaveRecord(line: string, now: () => number = Date.now): string {
  const capped = line.length > MAX_RECORD_BYTES ? line.slice(0, MAX_RECORD_BYTES) : line;
  let obj: unknown;
  try {
    obj = JSON.parse(capped);
  } catch {
    obj = undefined;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return JSON.stringify({ level: 40, time: now(), src: 'enclave', msg: 'unparseable enclave log record', bytes: line.length });
  }
  return JSON.stringify({ ...(obj as Record<string, unknown>), src: 'enclave' });
}
