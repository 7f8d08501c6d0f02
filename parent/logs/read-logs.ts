// Runs on the parent (inside the daemon, for the control socket's `logs` method). Reads the last
// records of the rotated JSON-lines files without loading more than the requested tail.
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_FILE } from './rotating-log.ts';

/** Upper bound on the lines one `logs` request returns. */
export const MAX_TAIL_LINES = 10_000;
const CHUNK = 64 * 1024;

/** Rotated files oldest first, the live file last. */
export async function logFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const rotated = names
    .map((n) => ({ n, m: new RegExp(`^${LOG_FILE.replace('.', '\\.')}\\.(\\d+)$`).exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) => Number(b.m[1]) - Number(a.m[1]))
    .map((x) => join(dir, x.n));
  return names.includes(LOG_FILE) ? [...rotated, join(dir, LOG_FILE)] : rotated;
}

/** The last `max` complete lines of one file, reading backwards in chunks. */
async function tailFile(path: string, max: number): Promise<string[]> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    let pos = size;
    let acc = Buffer.alloc(0);
    let lines: string[] = [];
    while (pos > 0) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      acc = Buffer.concat([buf, acc]);
      lines = acc.toString('utf8').split('\n').filter((l) => l.length > 0);
      if (lines.length > max) break;
    }
    return lines.slice(-max);
  } finally {
    await fh.close();
  }
}

function recordTime(line: string): number | undefined {
  try {
    const t = (JSON.parse(line) as { time?: unknown }).time;
    return typeof t === 'number' ? t : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The last `n` records across the rotated files (oldest first), optionally only those whose `time`
 * (epoch ms, pino's default) is at or after `sinceMs`.
 */
export async function readLogs(dir: string, opts: { n: number; sinceMs?: number }): Promise<string[]> {
  const n = Math.max(0, Math.min(MAX_TAIL_LINES, Math.floor(opts.n)));
  const files = await logFiles(dir);
  const out: string[] = [];
  for (let i = files.length - 1; i >= 0 && out.length < n; i--) {
    const f = files[i];
    if (f === undefined) continue;
    const lines = await tailFile(f, n - out.length);
    const kept = opts.sinceMs === undefined ? lines : lines.filter((l) => (recordTime(l) ?? 0) >= (opts.sinceMs ?? 0));
    out.unshift(...kept);
    if (opts.sinceMs !== undefined && lines.length > 0 && (recordTime(lines[0] ?? '') ?? 0) < opts.sinceMs) break;
  }
  return capBytes(out.slice(-n), MAX_TAIL_BYTES);
}

/** Upper bound on the bytes one `logs` answer carries (the CLI accepts 8 MiB responses). */
export const MAX_TAIL_BYTES = 4 * 1024 * 1024;

/** Keep the newest lines whose total size fits `max` bytes. */
export function capBytes(lines: string[], max: number): string[] {
  let total = 0;
  let i = lines.length;
  while (i > 0) {
    const len = Buffer.byteLength(lines[i - 1] ?? '') + 1;
    if (total + len > max) break;
    total += len;
    i--;
  }
  return i === 0 ? lines : lines.slice(i);
}

/** Size of the live file, used by `logs -f` to read only what was appended. */
export async function liveSize(dir: string): Promise<number> {
  try {
    return (await stat(join(dir, LOG_FILE))).size;
  } catch {
    return 0;
  }
}

/** Records appended to the live file since byte `from` (bounded to 1 MiB per call). */
export async function readFrom(dir: string, from: number): Promise<{ lines: string[]; next: number }> {
  const size = await liveSize(dir);
  if (size < from) return { lines: [], next: 0 }; // rotated meanwhile: restart from the new file
  const len = Math.min(size - from, 1024 * 1024);
  if (len === 0) return { lines: [], next: from };
  const fh = await open(join(dir, LOG_FILE), 'r');
  try {
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, from);
    const text = buf.toString('utf8');
    const last = text.lastIndexOf('\n');
    if (last < 0) return { lines: [], next: from };
    return { lines: text.slice(0, last).split('\n').filter((l) => l.length > 0), next: from + Buffer.byteLength(text.slice(0, last + 1)) };
  } finally {
    await fh.close();
  }
}
