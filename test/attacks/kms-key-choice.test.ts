// Attack: the parent chooses the KMS key. A malicious parent (root on the parent instance) hands
// setup a key whose policy lets it Decrypt without attestation, or loosens the policy of the key
// after setup, then calls Decrypt itself to get secrets.key and open the sealed DB. The enclave reads
// the policy over its own TLS and refuses both, with nothing sealed or unsealed. Real KMS stand-in
// (SigV4, TLS through the enclave's Dial), IMDS stand-in credentials, file blob store.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../enclave/kms/client.ts';
import { Cosigner } from '../../enclave/services/cosigner.ts';
import { createRealBackends } from '../../enclave/services/real-backends.ts';
import { SECRETS_DB_BLOB, SECRETS_KEY_BLOB } from '../../enclave/vault/vault.ts';
import { ImdsCredentialSource } from '../../parent/credentials/imds.ts';
import { systemClock } from '../../proto/ports.ts';
import type { KeyPolicy } from '../../proto/kms/key-policy.ts';
import { parseIdentityUserData } from '../../proto/attestation/identity.ts';
import { rejectionCode } from '../support/error-code.ts';
import { ADMIN_ARN, startStack, type Stack } from '../enclave/vault/stack.ts';

const coordinatorKeyPem = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();

/** A fresh enclave process (new backends, new Cosigner) over the stack's parent-side ports. */
function enclave(t: Stack): Cosigner {
  const ports = {
    dial: t.recorder.dial,
    blobs: t.blobs,
    credentials: new ImdsCredentialSource({ endpoint: t.imds.url }),
    logs: { write: () => undefined },
    clock: systemClock,
  };
  const logger = pino({ level: 'silent' });
  const attestor = t.attestor();
  const backends = createRealBackends({ ports, attestor, logger, localMode: true, tlsCaPem: t.ca.certPem, callback: {} });
  return new Cosigner({ backends, attestor, buildId: 'test-build', localMode: true, logger, clock: systemClock });
}

const setupInput = (t: Stack, keyArn: string) => ({
  kmsKeyArn: keyArn,
  region: 'us-east-1',
  kmsEndpoint: `https://localhost:${t.kms.port}`,
  // Nothing listens there: the coordinator client just keeps reconnecting until shutdown.
  coordinatorUrl: '127.0.0.1:1',
  coordinatorPublicKeyPem: coordinatorKeyPem,
  ownerPublicKeyPem: coordinatorKeyPem,
});

/** The key administrator's client (the parent may hold these credentials too). */
function adminKms(t: Stack) {
  return createKmsClient({
    region: 'us-east-1',
    endpoint: `https://localhost:${t.kms.port}`,
    caPem: t.ca.certPem,
    dial: t.recorder.dial,
    credentials: { get: async () => ({ accessKeyId: 'AKIDADMIN', secretAccessKey: 'admin-secret' }) },
    maxAttempts: 1,
  });
}

const dbFiles = (t: Stack): string[] => (existsSync(join(t.home, 'db')) ? readdirSync(join(t.home, 'db')) : []);

describe('attack: the parent picks or loosens the KMS key', () => {
  it('setup with an attacker key whose policy has no attestation condition is refused; nothing is sealed', async () => {
    const t = await startStack();
    const c = enclave(t);
    try {
      await c.boot();
      expect(c.status().state).toBe('not-set-up');
      // The attacker's key: the instance role (whose credentials the parent holds) may do anything.
      const attackerPolicy: KeyPolicy = {
        Version: '2012-10-17',
        Statement: [{ Sid: 'Attacker', Effect: 'Allow', Principal: { AWS: t.imds.roleArn }, Action: 'kms:*', Resource: '*' }],
      };
      const attackerKey = (await t.kms.createKey(attackerPolicy, 'attacker')).arn;
      expect(await rejectionCode(c.setup(setupInput(t, attackerKey)))).toBe('ERR_KMS_KEY_UNSAFE');
      // No secrets.key, no secrets.db, no boot descriptor; KMS generated no data key at all.
      expect(dbFiles(t).filter((f) => [SECRETS_KEY_BLOB, SECRETS_DB_BLOB].includes(f))).toEqual([]);
      expect(await t.blobs.get(SECRETS_KEY_BLOB)).toBeNull();
      expect(await t.blobs.get(SECRETS_DB_BLOB)).toBeNull();
      expect(await t.blobs.get('cosigner.json')).toBeNull();
      expect(t.kmsPlaintexts).toHaveLength(0);
      expect(c.status()).toMatchObject({ state: 'not-set-up', kmsPolicy: '' });

      // The same enclave still sets up with the operator's generated key, and says who may change it.
      const r = await c.setup(setupInput(t, t.keyArn));
      expect(r.status).toMatchObject({ state: 'unsealed', kmsPolicy: 'changeable', kmsPolicyEditors: [ADMIN_ARN] });
      const att = await c.getAttestation({});
      // The identity the document carries states the admitted key policy.
      expect(parseIdentityUserData(att.userData)).toMatchObject({ version: 2, kmsPolicyChangeable: true });
    } finally {
      await c.shutdown();
      await t.close();
    }
  });

  it('a key whose policy was loosened after setup: unseal is refused and the vault stays sealed', async () => {
    const t = await startStack();
    let c = enclave(t);
    const admin = adminKms(t);
    try {
      await c.boot();
      await c.setup(setupInput(t, t.keyArn));
      await c.shutdown();
      const dbBefore = readFileSync(join(t.home, 'db', SECRETS_DB_BLOB));
      const keyBefore = readFileSync(join(t.home, 'db', SECRETS_KEY_BLOB));
      const released = t.kmsPlaintexts.length;

      // The key administrator's credentials (or a grant) let the policy be loosened: Decrypt for the
      // instance role with no attestation, i.e. for the parent itself.
      const current = JSON.parse((await admin.send(new GetKeyPolicyCommand({ KeyId: t.keyArn, PolicyName: 'default' }))).Policy!) as KeyPolicy;
      current.Statement.push({ Sid: 'ParentToo', Effect: 'Allow', Principal: { AWS: t.imds.roleArn }, Action: 'kms:Decrypt', Resource: '*' });
      await admin.send(new PutKeyPolicyCommand({ KeyId: t.keyArn, PolicyName: 'default', Policy: JSON.stringify(current) }));

      // Enclave restart: boot refuses to unseal; an explicit Unseal is refused the same way.
      c = enclave(t);
      await c.boot();
      expect(c.status()).toMatchObject({ state: 'sealed', errorCode: 'ERR_KMS_KEY_UNSAFE', kmsPolicy: '', secretsGeneration: '' });
      expect(await rejectionCode(c.unseal({}))).toBe('ERR_KMS_KEY_UNSAFE');
      expect(c.status().state).toBe('sealed');
      expect(await rejectionCode(Promise.resolve().then(() => c.listUsers()))).toBe('ERR_SEALED');
      // KMS released nothing, and both blobs are untouched.
      expect(t.kmsPlaintexts).toHaveLength(released);
      expect(readFileSync(join(t.home, 'db', SECRETS_DB_BLOB)).equals(dbBefore)).toBe(true);
      expect(readFileSync(join(t.home, 'db', SECRETS_KEY_BLOB)).equals(keyBefore)).toBe(true);
    } finally {
      admin.destroy();
      await c.shutdown();
      await t.close();
    }
  });
});
