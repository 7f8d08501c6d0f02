// Attack 5: the parent hides secrets.db and restarts, so the enclave sees "secrets.key stored, no
// DB" — an unfinished setup — and asks it to finish that setup with the parent's own coordinator and
// owner key. secrets.key is bound (KMS EncryptionContext) to the parameters it was created for, so
// that is refused with nothing sealed; the same parameters finish it (the crash-recovery path).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './enclave-harness.ts';

const pem = (): string => generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string;
const legit = { cosignerUrl: '127.0.0.1:7443', publicKeyPem: pem(), ownerPublicKeyPem: pem() };
const parents = { cosignerUrl: '127.0.0.1:9443', publicKeyPem: pem(), ownerPublicKeyPem: pem() };

describe('attack: redirecting an unfinished setup', () => {
  let h: Harness;
  let cosignerId: string;
  const file = (n: string): string => join(h.stack.home, 'db', n);
  const snapshot = (): Record<string, string | null> =>
    Object.fromEntries(['secrets.key', 'secrets.db', 'cosigner.json'].map((n) => [n, existsSync(file(n)) ? readFileSync(file(n)).toString('base64') : null]));

  beforeAll(async () => {
    h = await startHarness();
    const a = await h.boot();
    cosignerId = (await a.cosigner.setup(h.setupInput(legit))).cosignerId;
    await a.stop();
    // The parent hides the sealed DB.
    renameSync(file('secrets.db'), join(h.stack.home, 'hidden.db'));
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('another coordinator URL and key: refused (ERR_SETUP_MISMATCH), nothing written', async () => {
    const b = await h.boot();
    expect(b.cosigner.status().state).toBe('sealed');
    const before = snapshot();
    await expect(b.cosigner.setup(h.setupInput(parents))).rejects.toMatchObject({ code: 'ERR_SETUP_MISMATCH' });
    // Only the owner differs: refused as well.
    await expect(b.cosigner.setup(h.setupInput({ ...legit, ownerPublicKeyPem: parents.ownerPublicKeyPem }))).rejects.toMatchObject({ code: 'ERR_SETUP_MISMATCH' });
    expect(snapshot()).toEqual(before);
    expect(before['secrets.db']).toBeNull();
    await b.stop();
  }, 60_000);

  it('a descriptor stripped of its binding does not help: KMS refuses the key, nothing sealed', async () => {
    const stored = await h.stack.blobs.get('cosigner.json');
    const d = JSON.parse(Buffer.from(stored?.data ?? []).toString('utf8')) as Record<string, unknown>;
    expect(d.setupBinding).toMatch(/^[0-9a-f]{64}$/);
    const { setupBinding: _gone, ...stripped } = d;
    const g = await h.stack.blobs.put('cosigner.json', Buffer.from(JSON.stringify(stripped)), stored?.generation ?? 0n);
    try {
      const b = await h.boot();
      await expect(b.cosigner.setup(h.setupInput(parents))).rejects.toMatchObject({ code: 'ERR_SETUP_MISMATCH' });
      expect(existsSync(file('secrets.db'))).toBe(false);
      await b.stop();
    } finally {
      await h.stack.blobs.put('cosigner.json', Buffer.from(JSON.stringify(d)), g);
    }
  }, 60_000);

  it('the same parameters finish the setup under the same co-signer id', async () => {
    const b = await h.boot();
    const done = await b.cosigner.setup(h.setupInput(legit));
    expect(done.cosignerId).toBe(cosignerId);
    expect(b.cosigner.status().state).toBe('unsealed');
    await b.stop();
    // And it unseals after a restart.
    const c = await h.boot();
    expect(c.cosigner.status()).toMatchObject({ state: 'unsealed', cosignerId });
    await c.stop();
  }, 60_000);

  it('an unreadable secrets.db is never replaced by a new setup (ERR_ALREADY_SET_UP)', async () => {
    // A DB the store reads fine but the vault cannot open (wrong format, another key, bit rot).
    const db = await h.stack.blobs.get('secrets.db');
    await h.stack.blobs.put('secrets.db', Buffer.from('not a sealed DB'), db?.generation ?? 0n);
    const before = snapshot();
    const d = await h.boot();
    expect(d.cosigner.status().state).toBe('sealed');
    await expect(d.cosigner.setup(h.setupInput(legit))).rejects.toMatchObject({ code: 'ERR_ALREADY_SET_UP' });
    expect(snapshot()).toEqual(before);
    await d.stop();
  }, 60_000);
});
