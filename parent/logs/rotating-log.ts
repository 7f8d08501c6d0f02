// Runs on the parent. The log sink: enclave and parent records as JSON lines in COSIGNER_HOME/log/,
// rotated by size. `cosigner.log` is the live file, `cosigner.log.1` … `cosigner.log.<keep-1>` the
// older ones; the oldest is deleted on rotation, so at most `keep` files ever exist and disk use is
// bounded by keep × maxBytes (plus one record).
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** File name of the live log. */
export const LOG_FILE = 'cosigner.log';
/** Longest record kept; an enclave that sends more is truncated, never buffered without bound. */
export const MAX_RECORD_BYTES = 16 * 1024;

export interface RotatingLogOptions {
  readonly dir: string;
  readonly maxBytes: number;
  /** Total number of files kept, the live one included (>= 1). */
  readonly keep: number;
}

/**
 * Append-only, size-rotated JSON-lines file. Writes are synchronous so records from the enclave and
 * the parent keep their order and nothing is lost when the daemon exits right after a record.
 */
export class RotatingLog {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  #fd: number | null = null;
  #size = 0;

  constructor(opts: RotatingLogOptions) {
    this.#dir = opts.dir;
    this.#maxBytes = opts.maxBytes;
    this.#keep = Math.max(1, Math.floor(opts.keep));
    mkdirSync(this.#dir, { recursive: true, mode: 0o750 });
    this.#open();
  }

  /** Path of the live file. */
  get path(): string {
    return join(this.#dir, LOG_FILE);
  }

  #open(): void {
    this.#fd = openSync(this.path, 'a', 0o640);
    this.#size = fstatSync(this.#fd).size;
  }

  /** Append one record (a line without its newline). Rotates first when the file would pass maxBytes. */
  write(line: string): void {
    if (this.#fd === null) return;
    const buf = Buffer.from(line.replace(/[\r\n]+/g, ' ') + '\n', 'utf8');
    if (this.#size > 0 && this.#size + buf.length > this.#maxBytes) this.rotate();
    if (this.#fd === null) return;
    writeSync(this.#fd, buf);
    this.#size += buf.length;
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
