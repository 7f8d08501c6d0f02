import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { deriveDbKey, openDb, peekGeneration, sealDb } from '../../../enclave/vault/sealed-db.ts';
import { sampleStateLite } from './fixtures/state-lite.ts';

const key = deriveDbKey(randomBytes(32), 'secrets.db');
const state = sampleStateLite('u');

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('sealed secrets DB format', () => {
  it('round-trips and exposes only the generation in clear', () => {
    const blob = sealDb(key, 'secrets.db', 7n, 9n, state);
    expect(peekGeneration(blob)).toBe(7n);
    const o = openDb(key, 'secrets.db', blob);
    expect(o.generation).toBe(7n);
    expect(o.highWater).toBe(9n);
    expect(o.state).toEqual(state);
    expect(blob.subarray(0, 5).toString()).toBe('NCSDB');
  });
  it('binds the blob name (AAD): a DB renamed to another name does not open', () => {
    expect(code(() => openDb(key, 'other.db', sealDb(key, 'secrets.db', 1n, 1n, state)))).toBe('ERR_SECRETS_DB_CORRUPT');
  });
  it('binds the generation: relabelling an old blob as newer fails', () => {
    const blob = sealDb(key, 'secrets.db', 3n, 3n, state);
    blob.writeBigUInt64BE(4n, 6);
    expect(code(() => openDb(key, 'secrets.db', blob))).toBe('ERR_SECRETS_DB_CORRUPT');
  });
  it('binds the format version and rejects unknown ones', () => {
    const blob = sealDb(key, 'secrets.db', 1n, 1n, state);
    blob[5] = 2;
    expect(code(() => openDb(key, 'secrets.db', blob))).toBe('ERR_SECRETS_DB_CORRUPT');
  });
  it('rejects the wrong key, truncation, bit flips and garbage', () => {
    const blob = sealDb(key, 'secrets.db', 1n, 1n, state);
    expect(code(() => openDb(deriveDbKey(randomBytes(32), 'secrets.db'), 'secrets.db', blob))).toBe('ERR_SECRETS_DB_CORRUPT');
    expect(code(() => openDb(key, 'secrets.db', blob.subarray(0, blob.length - 1)))).toBe('ERR_SECRETS_DB_CORRUPT');
    for (const i of [0, 20, 100, blob.length - 1]) {
      const b = Buffer.from(blob);
      b[i]! ^= 0x80;
      expect(code(() => openDb(key, 'secrets.db', b))).toBe('ERR_SECRETS_DB_CORRUPT');
    }
    expect(code(() => openDb(key, 'secrets.db', Buffer.alloc(10)))).toBe('ERR_SECRETS_DB_CORRUPT');
  });
  it('derives different keys for different names and never uses secrets.key directly', () => {
    const sk = randomBytes(32);
    expect(deriveDbKey(sk, 'a').equals(deriveDbKey(sk, 'b'))).toBe(false);
    expect(deriveDbKey(sk, 'a').equals(sk)).toBe(false);
  });
});
