import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RollbackGuard, SECRETS_DB_BLOB, SECRETS_KEY_BLOB, Vault } from '../../../enclave/vault/vault.ts';
import { measurementsFor, sampleState, startStack, type Stack } from './stack.ts';
import { rejectionCode as code } from '../../support/error-code.ts';

let s: Stack;
const ID = 'cosigner-a';

beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => s?.close());

/** Every file under COSIGNER_HOME with its bytes, to prove "nothing overwritten". */
function snapshot(): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of ['db', 'backup']) {
    for (const f of readdirSync(join(s.home, d))) out.set(`${d}/${f}`, readFileSync(join(s.home, d, f)).toString('hex'));
  }
  return out;
}

describe('Vault over the SDK, the KMS stand-in and the file blob store', () => {
  it('setup → KMS restart → unseal round trip, then update and unseal again', async () => {
    const state = sampleState(ID);
    const v = await Vault.setup({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, keyArn: s.keyArn, cosignerId: ID, initialState: state, guard: new RollbackGuard() });
    expect(v.state).toEqual(state);
    expect(v.dbGeneration).toBe(1n);
    v.close();
    expect(() => v.state).toThrow(/closed/);
    expect((await s.blobs.get(SECRETS_KEY_BLOB))?.generation).toBe(1n);

    await s.restartKms();
    const guard = new RollbackGuard(); // a new enclave process
    const u = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, keyArn: s.keyArn, guard });
    expect(u.state).toEqual(state);
    await Promise.all([
      u.update((st) => ({ ...st, users: [...st.users, { ...st.users[0]!, id: 'user-2' }] })),
      u.update((st) => ({ ...st, users: [...st.users, { ...st.users[0]!, id: 'user-3' }] })),
    ]);
    expect(u.dbGeneration).toBe(3n);
    u.close();
    const again = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard() });
    expect(again.state.users.map((x) => x.id)).toEqual(['user-1', 'user-2', 'user-3']);
    again.close();
  });

  it('refuses a second setup', async () => {
    expect(await code(Vault.setup({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, keyArn: s.keyArn, cosignerId: ID, initialState: sampleState(ID) }))).toBe('ERR_ALREADY_SET_UP');
  });

  it('a changed bundle (new PCR0) → ERR_KMS_ACCESS_DENIED and nothing overwritten', async () => {
    const before = snapshot();
    const err = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(measurementsFor('image-v2')), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard() }).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('ERR_KMS_ACCESS_DENIED');
    expect((err as Error).message).toMatch(/key policy does not admit this enclave image/);
    expect(snapshot()).toEqual(before);
  });

  it('a debug-mode enclave never matches the PCR policy', async () => {
    const before = snapshot();
    expect(await code(Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(undefined, true), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard() }))).toBe('ERR_KMS_ACCESS_DENIED');
    expect(snapshot()).toEqual(before);
  });

  it('a document from an untrusted attestation root is refused by KMS', async () => {
    const { DevAuthority, DevAttestor } = await import('../../../enclave/dev/dev-authority.ts');
    const rogue = await DevAuthority.createEphemeral();
    const m = s.measurements;
    const attestor = new DevAttestor({ authority: rogue, pcrs: new Map([[0, Buffer.from(m.PCR0, 'hex')], [1, Buffer.from(m.PCR1, 'hex')], [2, Buffer.from(m.PCR2, 'hex')]]) });
    expect(await code(Vault.unseal({ kms: s.kmsClient(), attestor, blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard() }))).toBe('ERR_KMS');
  });

  it('wrong EncryptionContext (another cosigner id) → ERR_SECRETS_KEY_CORRUPT, files kept', async () => {
    const before = snapshot();
    expect(await code(Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: 'cosigner-b', guard: new RollbackGuard() }))).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(snapshot()).toEqual(before);
  });

  it('corrupted secrets.key → ERR_SECRETS_KEY_CORRUPT; file kept as it was', async () => {
    const p = join(s.home, 'db', SECRETS_KEY_BLOB);
    const good = readFileSync(p);
    const bad = Buffer.from(good);
    bad[bad.length - 5]! ^= 0x40;
    writeFileSync(p, bad);
    expect(await code(Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard() }))).toBe('ERR_SECRETS_KEY_CORRUPT');
    expect(readFileSync(p).equals(bad)).toBe(true);
    writeFileSync(p, good);
  });

  it('corrupted secrets.db → ERR_SECRETS_DB_CORRUPT; restoring a backup works (explicit rollback)', async () => {
    const p = join(s.home, 'db', SECRETS_DB_BLOB);
    const good = readFileSync(p);
    const bad = Buffer.from(good);
    bad[bad.length - 20]! ^= 0x01;
    writeFileSync(p, bad);
    const guard = new RollbackGuard();
    expect(await code(Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard }))).toBe('ERR_SECRETS_DB_CORRUPT');
    expect(readFileSync(p).equals(bad)).toBe(true);
    // The operator restores the newest backup (generation 2 of the store; enclave generation 2).
    const backups = await s.blobs.listBackups(SECRETS_DB_BLOB);
    expect(backups.length).toBeGreaterThan(0);
    await s.blobs.restoreBackup(SECRETS_DB_BLOB, backups[0]!.generation);
    const v = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard });
    expect(v.state.users.map((x) => x.id)).toEqual(['user-1', 'user-2']);
    await v.update((st) => st); // brings the DB forward again
    expect(v.dbGeneration).toBe(3n);
    v.close();
  });

  it('an older generation is refused (ERR_ROLLBACK) unless the operator names it; generations never repeat', async () => {
    const guard = new RollbackGuard();
    const v = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard });
    await v.update((st) => ({ ...st, users: [] }));
    const high = v.dbGeneration;
    v.close();
    // the parent serves an older blob (a backup) in place of the newest
    const oldest = (await s.blobs.listBackups(SECRETS_DB_BLOB)).at(-1)!;
    await s.blobs.restoreBackup(SECRETS_DB_BLOB, oldest.generation);
    const before = snapshot();
    const err = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard }).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('ERR_ROLLBACK');
    expect(snapshot()).toEqual(before);
    // also refused against an external floor in a fresh process
    expect(await code(Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard(), minGeneration: high }))).toBe('ERR_ROLLBACK');
    const restoredGen = BigInt((err as { details: { found: string } }).details.found);
    expect(await code(Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard, allowRollbackTo: restoredGen + 100n }))).toBe('ERR_ROLLBACK');
    const r = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard, allowRollbackTo: restoredGen });
    expect(r.dbGeneration).toBe(restoredGen);
    await r.update((st) => st);
    expect(r.dbGeneration).toBe(high + 1n);
    r.close();
  });

  it('refuses writes that lose a compare-and-swap race (ERR_GENERATION_CONFLICT), keeping the durable state', async () => {
    const a = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard() });
    const b = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard() });
    await a.update((st) => ({ ...st, users: [] }));
    expect(await code(b.update((st) => st))).toBe('ERR_GENERATION_CONFLICT');
    a.close();
    b.close();
  });
});
