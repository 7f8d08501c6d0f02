// Runs on the parent. The smallest object-store contract the lease (lease.ts) needs: read with an
// entity tag, create only if absent, replace only if unchanged. That is exactly what S3 conditional
// writes give (`If-None-Match: *`, `If-Match: <etag>`; s3-conditional-objects.ts), so the lease's
// safety rests on the store's compare-and-swap, never on clocks agreeing between instances.
import { randomUUID } from 'node:crypto';

/** An object's body and the opaque tag that changes on every write. */
export interface TaggedObject {
  readonly body: Uint8Array;
  readonly etag: string;
}

export interface ConditionalObjects {
  /** The object, or null when it does not exist. */
  get(key: string): Promise<TaggedObject | null>;
  /** Create `key` only if it does not exist: the new etag, or 'exists' (nothing written). */
  putIfAbsent(key: string, body: Uint8Array): Promise<string | 'exists'>;
  /** Replace `key` only if its etag is still `etag`: the new etag, or 'changed' (nothing written). */
  putIfMatch(key: string, body: Uint8Array, etag: string): Promise<string | 'changed'>;
}

/**
 * In-memory ConditionalObjects with the same semantics as S3: each check-and-write is atomic (one
 * synchronous step, so concurrent callers serialise on it), a write to a missing key with If-Match
 * fails as 'changed' (S3 answers 404/412 there; either way nothing is written), and every write gets
 * a fresh etag even for an identical body, so a replaced object never matches an old tag.
 */
export class MemoryConditionalObjects implements ConditionalObjects {
  readonly #objects = new Map<string, TaggedObject>();

  async get(key: string): Promise<TaggedObject | null> {
    await Promise.resolve();
    const o = this.#objects.get(key);
    return o ? { body: Uint8Array.from(o.body), etag: o.etag } : null;
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<string | 'exists'> {
    await Promise.resolve();
    if (this.#objects.has(key)) return 'exists';
    return this.#write(key, body);
  }

  async putIfMatch(key: string, body: Uint8Array, etag: string): Promise<string | 'changed'> {
    await Promise.resolve();
    if (this.#objects.get(key)?.etag !== etag) return 'changed';
    return this.#write(key, body);
  }

  #write(key: string, body: Uint8Array): string {
    const etag = `"${randomUUID()}"`;
    this.#objects.set(key, { body: Uint8Array.from(body), etag });
    return etag;
  }
}
