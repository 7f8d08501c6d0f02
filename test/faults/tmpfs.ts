// Fault-test helper: a small real filesystem (tmpfs) that tests fill to get ENOSPC the way a full
// disk gives it. Needs root (CI runs as root); elsewhere the caller skips with the printed reason.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Mount a tmpfs of `sizeKiB` at `dir`; returns null on success, else why it could not. */
export function mountTmpfs(dir: string, sizeKiB: number, extra = ''): string | null {
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() !== 0) return 'not running as root: cannot mount a tmpfs';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700${extra ? `,${extra}` : ''}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || r.error?.message || 'unknown').trim()}`;
  return null;
}

export function unmount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

/** Write filler until the filesystem answers ENOSPC; returns the filler's path (delete it to free space). */
export function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'a');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  // Top up the last partial block.
  try {
    for (;;) writeSync(fd, chunk.subarray(0, 64));
  } catch {
    // full
  } finally {
    closeSync(fd);
  }
  return path;
}

export function free(path: string): void {
  rmSync(path, { force: true });
}

/** Live processes started as `node <bundle> --listen <wireUrl>` for this daemon's wire URL. */
export function enclaveProcesses(wireUrl: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const i = cmd.indexOf('--listen');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // A zombie (state Z) has exited; it is only waiting to be reaped.
      if (i >= 0 && cmd[i + 1] === wireUrl && !/^\d+ \(.*\) Z/.test(stat)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

