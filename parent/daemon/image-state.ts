// Runs on the parent. Which enclave image the daemon runs, persisted in COSIGNER_HOME/image.json so
// that after `cosigner upgrade` a daemon restart keeps the new image, and the previous one stays on
// record (never deleted) for a rollback.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../storage/write-file-atomic.ts';

export interface ImageState {
  readonly current: string;
  readonly previous: string | null;
  readonly switchedAt: string;
  readonly measurements: Record<string, string> | null;
}

export const IMAGE_STATE_FILE = 'image.json';

/** The recorded state, or null when absent or unreadable (the config's image is used then). */
export async function readImageState(home: string): Promise<ImageState | null> {
  try {
    const text = await readFile(join(home, IMAGE_STATE_FILE), 'utf8');
    if (text.length > 64 * 1024) return null;
    const j = JSON.parse(text) as Partial<ImageState>;
    if (typeof j.current !== 'string' || !existsSync(j.current)) return null;
    return {
      current: j.current,
      previous: typeof j.previous === 'string' ? j.previous : null,
      switchedAt: typeof j.switchedAt === 'string' ? j.switchedAt : '',
      measurements: j.measurements && typeof j.measurements === 'object' ? (j.measurements as Record<string, string>) : null,
    };
  } catch {
    return null;
  }
}

/** Write atomically (parent/storage/write-file-atomic.ts). */
export async function writeImageState(home: string, s: ImageState): Promise<void> {
  await writeFileAtomic(join(home, IMAGE_STATE_FILE), JSON.stringify(s, null, 2) + '\n', 0o600);
}
