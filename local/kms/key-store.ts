// KMS stand-in only: symmetric keys persisted one JSON file per key under `<dir>/keys/`, written
// atomically (temp → fsync → rename → fsync dir) so that a restarted stand-in on the same dir still
// decrypts what it encrypted before. Key material sits in the stand-in's own dir, never under a
// COSIGNER_HOME: it plays AWS's HSMs.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyPolicy } from '../../proto/kms/key-policy.ts';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';

export interface StoredKey {
  readonly keyId: string;
  readonly arn: string;
  readonly createdAt: number;
  readonly description: string;
  /** 32 bytes, hex. */
  readonly material: string;
  readonly policy: KeyPolicy;
  readonly enabled: boolean;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The stand-in's persisted keys (one atomic JSON file each). */
export class KeyStore {
  private readonly keys = new Map<string, StoredKey>();
  private readonly keysDir: string;

  constructor(dir: string, private readonly region: string, private readonly account: string) {
    this.keysDir = join(dir, 'keys');
    mkdirSync(this.keysDir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(this.keysDir)) {
      if (!f.endsWith('.json')) continue;
      const k = JSON.parse(readFileSync(join(this.keysDir, f), 'utf8')) as StoredKey;
      if (UUID_RE.test(k.keyId)) this.keys.set(k.keyId, k);
    }
  }

  /** Resolves a key id or key ARN (aliases are not supported by the stand-in). */
  find(keyIdOrArn: string): StoredKey | undefined {
    const m = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):key\/(.+)$/.exec(keyIdOrArn);
    if (m) {
      if (m[1] !== this.region || m[2] !== this.account) return undefined;
      return this.keys.get(m[3]!);
    }
    return this.keys.get(keyIdOrArn);
  }

  async create(policy: KeyPolicy, description: string, keyId?: string): Promise<StoredKey> {
    const id = keyId ?? randomUUID();
    const key: StoredKey = {
      keyId: id,
      arn: `arn:aws:kms:${this.region}:${this.account}:key/${id}`,
      createdAt: Date.now(),
      description,
      material: randomBytes(32).toString('hex'),
      policy,
      enabled: true,
    };
    await this.save(key);
    return key;
  }

  async update(key: StoredKey): Promise<void> {
    await this.save(key);
  }

  private async save(key: StoredKey): Promise<void> {
    await writeFileAtomic(join(this.keysDir, `${key.keyId}.json`), JSON.stringify(key), 0o600);
    this.keys.set(key.keyId, key);
  }
}
