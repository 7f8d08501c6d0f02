// Golden bytes: a secrets DB sealed by an earlier build must open in every later one. The fixture
// test/fixtures/golden/secrets-db-v1.bin was sealed once (format version 1) under the fixed test
// secrets.key below. NEVER regenerate it to make this test pass: a failure means the build can no
// longer open operators' existing secrets DBs. Only a new DB_FORMAT_VERSION adds a new fixture (and
// this one must then still open, or be refused by an explicit migration path).
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DB_FORMAT_VERSION, deriveDbKey, openDb, peekGeneration } from '../../enclave/vault/sealed-db.ts';
import { SECRETS_DB_BLOB } from '../../enclave/vault/vault.ts';

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/golden/secrets-db-v1.bin');
/** The fixed test secrets.key the fixture was sealed under (a test value; it protects nothing). */
const SECRETS_KEY = Buffer.alloc(32, 0x42);

describe('golden: sealed secrets DB, format 1', () => {
  const blob = readFileSync(fixture);

  it('is the committed file, byte for byte', () => {
    expect(blob.length).toBe(1344);
    expect(createHash('sha256').update(blob).digest('hex')).toBe('6dd144e754f743fbae50079b8dd489b3cc02ca3ed42c629e822487c1e7f144b3');
    expect(blob.subarray(0, 6).toString('hex')).toBe('4e435344420' + '1'); // "NCSDB", format 1
  });

  it('opens under the fixed key and decodes to the state it was sealed with', () => {
    expect(DB_FORMAT_VERSION).toBe(1);
    expect(peekGeneration(blob)).toBe(7n);
    const opened = openDb(deriveDbKey(SECRETS_KEY, SECRETS_DB_BLOB), SECRETS_DB_BLOB, blob);
    expect(opened.generation).toBe(7n);
    expect(opened.highWater).toBe(9n);
    const s = opened.state;
    expect(s.formatVersion).toBe(1);
    expect(s.identity).toEqual({ cosignerId: 'golden-cosigner', callbackSigningKeyPkcs8: 'c0'.repeat(16), coordinatorAuthKeyPkcs8: 'a0'.repeat(16) });
    expect(s.coordinator.url).toBe('wss://coordinator.example/v1');
    expect(s.coordinator.publicKeyPem).toContain('MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=');
    expect(s.kms).toEqual({ keyArn: 'arn:aws:kms:us-east-1:111122223333:key/golden', region: 'us-east-1' });
    expect(s.users).toHaveLength(1);
    const u = s.users[0]!;
    expect(u).toMatchObject({ id: 'user-1', workspace: 'ws-1', createdAt: 1700000000000, status: 'active', approvalKeyPkcs8: 'b0'.repeat(16), pairingNonce: 'nonce-1' });
    expect(u.callback).toEqual({ url: 'https://handler.example/cb', authMode: 'public-key', handlerPublicKeyPem: 'PEM' });
    expect(u.keyShares).toEqual([
      {
        keyId: 'key-1',
        scheme: 'frost-ed25519',
        threshold: 2,
        participants: [1, 2, 3],
        identifier: 2,
        secretShare: '5e'.repeat(32),
        groupPublicKey: '6b'.repeat(32),
        verifyingShares: { '1': '01'.repeat(32), '2': '02'.repeat(32), '3': '03'.repeat(32) },
        createdAt: 1700000000001,
      },
    ]);
  });

  it('is bound to its key and name: another key or blob name is refused', () => {
    expect(() => openDb(deriveDbKey(Buffer.alloc(32, 0x43), SECRETS_DB_BLOB), SECRETS_DB_BLOB, blob)).toThrow(expect.objectContaining({ code: 'ERR_SECRETS_DB_CORRUPT' }));
    expect(() => openDb(deriveDbKey(SECRETS_KEY, SECRETS_DB_BLOB), 'other.db', blob)).toThrow(expect.objectContaining({ code: 'ERR_SECRETS_DB_CORRUPT' }));
  });
});
