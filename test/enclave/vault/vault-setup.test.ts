import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobStore } from '../../../proto/ports.ts';
import { CosignerError } from '../../../proto/errors.ts';
import { RollbackGuard, SECRETS_DB_BLOB, SECRETS_KEY_BLOB, Vault } from '../../../enclave/vault/vault.ts';
import { measurementsFor, sampleState, startStack } from './stack.ts';
import { rejectionCode as code } from '../../support/error-code.ts';

const ID = 'cosigner-a';

describe('Vault setup failures', () => {
  it('setup from an image the policy does not admit writes nothing', async () => {
    const t = await startStack();
    try {
      const err = await Vault.setup({ kms: t.kmsClient(), attestor: t.attestor(measurementsFor('other')), blobs: t.blobs, keyArn: t.keyArn, cosignerId: ID, initialState: sampleState(ID) }).catch((e: unknown) => e);
      expect((err as { code: string }).code).toBe('ERR_KMS_ACCESS_DENIED');
      expect(readdirSync(join(t.home, 'db'))).toEqual([]);
      expect(await code(Vault.unseal({ kms: t.kmsClient(), attestor: t.attestor(), blobs: t.blobs, cosignerId: ID }))).toBe('ERR_NOT_SET_UP');
    } finally {
      await t.close();
    }
  });

  it('a setup that died after storing secrets.key resumes with the same key', async () => {
    const t = await startStack();
    try {
      const failingDb: BlobStore = {
        get: (n) => t.blobs.get(n),
        put: async (n, d, g) => {
          if (n === SECRETS_DB_BLOB) throw new CosignerError('ERR_DISK_FULL', 'simulated');
          return t.blobs.put(n, d, g);
        },
      };
      expect(await code(Vault.setup({ kms: t.kmsClient(), attestor: t.attestor(), blobs: failingDb, keyArn: t.keyArn, cosignerId: ID, initialState: sampleState(ID) }))).toBe('ERR_DISK_FULL');
      const keyBefore = readFileSync(join(t.home, 'db', SECRETS_KEY_BLOB));
      const v = await Vault.setup({ kms: t.kmsClient(), attestor: t.attestor(), blobs: t.blobs, keyArn: t.keyArn, cosignerId: ID, initialState: sampleState(ID), guard: new RollbackGuard() });
      v.close();
      expect(readFileSync(join(t.home, 'db', SECRETS_KEY_BLOB)).equals(keyBefore)).toBe(true);
      (await Vault.unseal({ kms: t.kmsClient(), attestor: t.attestor(), blobs: t.blobs, cosignerId: ID, guard: new RollbackGuard() })).close();
    } finally {
      await t.close();
    }
  });
});

describe('Vault against a lying KMS', () => {
  it('refuses plaintext despite a Recipient, a garbage envelope, and an envelope for another key; writes nothing', async () => {
    const { DevAuthority, DevAttestor } = await import('../../../enclave/dev/dev-authority.ts');
    const { generateKeyPairSync } = await import('node:crypto');
    const { buildEnvelope } = await import('../../../local/kms/cms.ts');
    const { MemoryBlobStore } = await import('../../../parent/storage/memory-blob-store.ts');
    const attestor = new DevAttestor({ authority: await DevAuthority.createEphemeral(), pcrs: new Map([[0, new Uint8Array(48).fill(1)]]) });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const responses = [
      { Plaintext: new Uint8Array(32).fill(7), CiphertextForRecipient: buildEnvelope(Buffer.alloc(32, 7), other.publicKey), CiphertextBlob: new Uint8Array(100) },
      { CiphertextForRecipient: new Uint8Array(300).fill(0x30), CiphertextBlob: new Uint8Array(100) },
      { CiphertextForRecipient: buildEnvelope(Buffer.alloc(32, 7), other.publicKey), CiphertextBlob: new Uint8Array(100) },
      { CiphertextBlob: new Uint8Array(100) },
    ];
    const expected = ['ERR_KMS', 'ERR_CMS_MALFORMED', 'ERR_CMS_MALFORMED', 'ERR_CMS_MALFORMED'];
    for (let i = 0; i < responses.length; i++) {
      const blobs = new MemoryBlobStore();
      const kms = { send: async () => responses[i] } as unknown as import('@aws-sdk/client-kms').KMSClient;
      expect(await code(Vault.setup({ kms, attestor, blobs, keyArn: 'arn:aws:kms:us-east-1:111122223333:key/abc', cosignerId: ID, initialState: sampleState(ID) }))).toBe(expected[i]);
      expect(await blobs.get(SECRETS_KEY_BLOB)).toBeNull();
    }
  });
});

describe('Vault setup confirms the data key through a second Decrypt', () => {
  it('refuses when the Decrypt envelope has an altered IV (CBC opens it to a different key), and stores nothing', async () => {
    const { DecryptCommand } = await import('@aws-sdk/client-kms');
    const t = await startStack();
    try {
      const real = t.kmsClient();
      let decrypts = 0;
      // Flips one IV bit in what Decrypt returns: the envelope still parses and opens (CBC has no
      // integrity), but its first plaintext block, hence the key, differs from GenerateDataKey's.
      const kms = {
        send: async (cmd: unknown) => {
          const r = (await real.send(cmd as never)) as { CiphertextForRecipient?: Uint8Array };
          if (cmd instanceof DecryptCommand && r.CiphertextForRecipient) {
            decrypts++;
            const env = Buffer.from(r.CiphertextForRecipient);
            const at = env.indexOf(Buffer.from('060960864801650304012a0410', 'hex'));
            expect(at).toBeGreaterThan(0);
            env[at + 13]! ^= 0x01;
            r.CiphertextForRecipient = new Uint8Array(env);
          }
          return r;
        },
      } as unknown as import('@aws-sdk/client-kms').KMSClient;
      const err = await Vault.setup({ kms, attestor: t.attestor(), blobs: t.blobs, keyArn: t.keyArn, cosignerId: ID, initialState: sampleState(ID), guard: new RollbackGuard() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CosignerError);
      expect((err as CosignerError).code).toBe('ERR_CMS_MALFORMED');
      expect(decrypts).toBe(1);
      expect(readdirSync(join(t.home, 'db'))).toEqual([]);
      // Untouched responses: setup succeeds and unseal opens what it sealed.
      (await Vault.setup({ kms: real, attestor: t.attestor(), blobs: t.blobs, keyArn: t.keyArn, cosignerId: ID, initialState: sampleState(ID), guard: new RollbackGuard() })).close();
      (await Vault.unseal({ kms: real, attestor: t.attestor(), blobs: t.blobs, cosignerId: ID, guard: new RollbackGuard() })).close();
    } finally {
      await t.close();
    }
  });
});
