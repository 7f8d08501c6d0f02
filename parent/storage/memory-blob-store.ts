// Runs anywhere (tests, the local stack): an in-memory BlobStore with the same CAS contract as
// FileBlobStore, for code that needs a store but not a disk.
import type { BlobStore, StoredBlob } from '../../proto/ports.ts';
import { CosignerError } from '../../proto/errors.ts';
import { validateBlobName } from './file-blob-store.ts';

/** In-memory BlobStore; `onPut` lets tests record every byte written. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, StoredBlob>();
  constructor(private readonly onPut?: (name: string, data: Uint8Array) => void) {}

  async get(name: string): Promise<StoredBlob | null> {
    validateBlobName(name);
    const b = this.blobs.get(name);
    return b ? { data: new Uint8Array(b.data), generation: b.generation } : null;
  }

  async put(name: string, data: Uint8Array, expectedGeneration: bigint): Promise<bigint> {
    validateBlobName(name);
    const have = this.blobs.get(name)?.generation ?? 0n;
    if (have !== expectedGeneration) {
      throw new CosignerError('ERR_GENERATION_CONFLICT', `blob ${name} is at generation ${have}, not ${expectedGeneration}`);
    }
    this.onPut?.(name, data);
    this.blobs.set(name, { data: new Uint8Array(data), generation: have + 1n });
    return have + 1n;
  }
}
