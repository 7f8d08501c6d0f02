// The production wiring's own checks, with the vault module replaced (vi.mock) so no KMS is needed.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import type { SecretsState } from '../../../enclave/vault/records.ts';

const unsealed: { state: SecretsState | undefined; closed: number } = { state: undefined, closed: 0 };
vi.mock('../../../enclave/vault/vault.ts', () => ({
  SECRETS_KEY_BLOB: 'secrets.key',
  SECRETS_DB_BLOB: 'secrets.db',
  Vault: {
    setup: vi.fn(async () => {
      throw new Error('Vault.setup must not be reached in these tests');
    }),
    unseal: vi.fn(async () => ({
      get state() {
        return unsealed.state;
      },
      dbGeneration: 7n,
      update: async () => undefined,
      close: () => void unsealed.closed++,
    })),
  },
}));

// The key-policy check itself runs against the KMS stand-in in test/attacks/kms-key-choice.test.ts;
// here it is a switch, to see where the wiring calls it.
const admission: { unsafe: boolean; calls: string[] } = { unsafe: false, calls: [] };
vi.mock('../../../enclave/kms/key-admission.ts', () => ({
  admitKmsKey: vi.fn(async (_kms: unknown, keyArn: string) => {
    admission.calls.push(keyArn);
    if (admission.unsafe) {
      const { CosignerError } = await import('../../../proto/errors.ts');
      throw new CosignerError('ERR_KMS_KEY_UNSAFE', 'unsafe key (test)');
    }
    return { admitted: true, problems: [], changeable: false, editors: [] };
  }),
}));

const { createRealBackends } = await import('../../../enclave/services/real-backends.ts');
const { writeBootDescriptor } = await import('../../../enclave/services/boot-descriptor.ts');
const { MemoryBlobStore } = await import('../../../parent/storage/memory-blob-store.ts');
const { fakeAttestor, instantClock } = await import('./fakes.ts');

const ARN = 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234';

function backends(mode: 'dev' | 'nsm', localMode: boolean, logger: pino.Logger = pino({ level: 'silent' })) {
  const blobs = new MemoryBlobStore();
  const ports = {
    dial: async () => {
      throw new Error('no network in this test');
    },
    blobs,
    credentials: { get: async () => ({ accessKeyId: 'A', secretAccessKey: 'B' }) },
    logs: { write: () => undefined },
    clock: instantClock(),
  };
  return { blobs, b: createRealBackends({ ports, attestor: fakeAttestor(mode), logger, localMode, tlsCaPem: undefined, callback: {} }) };
}

const state = (keyArn: string, region: string): SecretsState => ({
  formatVersion: 1,
  identity: { cosignerId: 'c1', callbackSigningKeyPkcs8: '', coordinatorAuthKeyPkcs8: '' },
  coordinator: { url: '127.0.0.1:1', publicKeyPem: '' },
  kms: { keyArn, region },
  users: [],
});

describe('real backends', () => {
  it('a production build never lets setup name a KMS endpoint', async () => {
    const { b } = backends('nsm', true);
    await expect(b.setupVault({ kms: { keyArn: ARN, region: 'us-east-1', endpoint: 'https://127.0.0.1:1' }, initialState: state(ARN, 'us-east-1') })).rejects.toMatchObject({ code: 'ERR_PERMISSION_DENIED' });
  });

  it('a production build refuses a stored descriptor that names an endpoint', async () => {
    const { b, blobs } = backends('nsm', false);
    await writeBootDescriptor(blobs, { version: 1, cosignerId: 'c1', keyArn: ARN, region: 'us-east-1', kmsEndpoint: 'https://evil.example' });
    await expect(b.unsealVault({})).rejects.toMatchObject({ code: 'ERR_PERMISSION_DENIED' });
  });

  it('secrets.key without its descriptor is a clear corruption, not "not set up"', async () => {
    const { b, blobs } = backends('dev', true);
    await expect(b.unsealVault({})).rejects.toMatchObject({ code: 'ERR_NOT_SET_UP' });
    await blobs.put('secrets.key', new Uint8Array([1, 2, 3]), 0n);
    expect(await b.hasSecrets()).toBe(true);
    await expect(b.unsealVault({})).rejects.toMatchObject({ code: 'ERR_SECRETS_KEY_CORRUPT' });
  });

  it('a descriptor the parent altered must agree with the sealed state, else the vault is closed', async () => {
    const { b, blobs } = backends('dev', true);
    await writeBootDescriptor(blobs, { version: 1, cosignerId: 'c1', keyArn: ARN, region: 'us-east-1' });
    unsealed.state = state('arn:aws:kms:us-east-1:111122223333:key/other', 'us-east-1');
    unsealed.closed = 0;
    await expect(b.unsealVault({})).rejects.toMatchObject({ code: 'ERR_SECRETS_DB_CORRUPT' });
    expect(unsealed.closed).toBe(1);
    unsealed.state = state(ARN, 'us-east-1');
    const v = await b.unsealVault({});
    expect(v.generation).toBe(7n);
  });

  it('checks the key policy before setup stores anything and before unseal opens anything; the identity binds the result', async () => {
    const { Vault } = await import('../../../enclave/vault/vault.ts');
    const { b, blobs } = backends('dev', true);
    admission.unsafe = true;
    admission.calls = [];
    await expect(b.setupVault({ kms: { keyArn: ARN, region: 'us-east-1' }, initialState: state(ARN, 'us-east-1') })).rejects.toMatchObject({ code: 'ERR_KMS_KEY_UNSAFE' });
    expect(await blobs.get('cosigner.json')).toBeNull();
    await writeBootDescriptor(blobs, { version: 1, cosignerId: 'c1', keyArn: ARN, region: 'us-east-1' });
    const unseals = vi.mocked(Vault.unseal).mock.calls.length;
    await expect(b.unsealVault({})).rejects.toMatchObject({ code: 'ERR_KMS_KEY_UNSAFE' });
    expect(vi.mocked(Vault.unseal).mock.calls.length).toBe(unseals);
    expect(admission.calls).toEqual([ARN, ARN]);
    expect(b.kmsKeyPolicy?.()).toBeUndefined();
    admission.unsafe = false;
    unsealed.state = state(ARN, 'us-east-1');
    await b.unsealVault({});
    expect(b.kmsKeyPolicy?.()).toEqual({ changeable: false, editors: [] });
    const { identityUserData, parseIdentityUserData } = await import('../../../proto/attestation/identity.ts');
    const { PROTOCOL_VERSION } = await import('../../../proto/runtime/schema.ts');
    const { createIdentity, identityKeysOf } = await import('../../../enclave/services/identity.ts');
    const { generateKeyPairSync } = await import('node:crypto');
    const coordinatorPem = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const real: SecretsState = { ...state(ARN, 'us-east-1'), identity: createIdentity(), coordinator: { url: '127.0.0.1:1', publicKeyPem: coordinatorPem } };
    const ud = b.identityUserData({ state: real, buildId: 'b' });
    expect(ud).toEqual(identityUserData({ ...identityKeysOf(real), protocolVersion: PROTOCOL_VERSION, buildId: 'b', kmsPolicyChangeable: false }));
    expect(parseIdentityUserData(ud)).toMatchObject({ cosignerId: real.identity.cosignerId, kmsPolicyChangeable: false, ownerKeyFingerprint: null });
  });

  it('recognises a setup that stored secrets.key but no DB, and only that', async () => {
    const { b, blobs } = backends('dev', true);
    expect(await b.unfinishedSetup()).toBeNull();
    await writeBootDescriptor(blobs, { version: 1, cosignerId: 'c9', keyArn: ARN, region: 'us-east-1' });
    expect(await b.unfinishedSetup()).toBeNull();
    await blobs.put('secrets.key', new Uint8Array([1]), 0n);
    expect(await b.unfinishedSetup()).toEqual({ cosignerId: 'c9' });
    await blobs.put('secrets.db', new Uint8Array([1]), 0n);
    expect(await b.unfinishedSetup()).toBeNull();
  });

  it('pairing needs the running coordinator client', async () => {
    const { b } = backends('dev', true);
    await expect(b.pairUser({ token: 't', callback: undefined, vault: {} as never, upstream: undefined, signal: new AbortController().signal })).rejects.toMatchObject({ code: 'ERR_COORDINATOR_UNAVAILABLE' });
  });
});

describe('real backends: Callback Handler settings changes', () => {
  const pem = (): string => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const keyA = pem();
  const keyB = pem();

  it('audits a refused, unconfirmed handler-key swap and an allowed one, fingerprints only', async () => {
    const { captureLogger } = await import('../approval/helpers.ts');
    const { logger, records, lines } = captureLogger();
    const { b } = backends('nsm', false, logger);
    const callback = { url: 'https://h.example', authMode: 'public-key' as const, handlerPublicKeyPem: keyA };
    const user = { id: 'u1', workspace: 'w', createdAt: 0, status: 'active' as const, approvalKeyPkcs8: '00', keyShares: [], callback };
    expect(() => b.applyCallbackUpdate(user, { ...callback, handlerPublicKeyPem: keyB }, { confirmed: false })).toThrow(expect.objectContaining({ code: 'ERR_PERMISSION_DENIED' }));
    expect(b.applyCallbackUpdate(user, { ...callback, handlerPublicKeyPem: keyB }, { confirmed: true }).changed).toEqual(['handlerKeySha256']);
    expect(records()).toEqual([
      expect.objectContaining({ level: 40, audit: true, event: 'callback.settings.refused', userId: 'u1', changed: 'handlerKeySha256' }),
      expect.objectContaining({ level: 30, audit: true, event: 'callback.settings.changed', userId: 'u1', confirmed: true, changed: ['handlerKeySha256'] }),
    ]);
    expect(lines.join('')).not.toContain('BEGIN');
  });

  it('writes nothing for a change that is invalid rather than unconfirmed', async () => {
    const { captureLogger } = await import('../approval/helpers.ts');
    const { logger, records } = captureLogger();
    const { b } = backends('nsm', false, logger);
    const user = { id: 'u1', workspace: 'w', createdAt: 0, status: 'active' as const, approvalKeyPkcs8: '00', keyShares: [] };
    expect(() => b.applyCallbackUpdate(user, { url: 'ftp://x', authMode: 'public-key', handlerPublicKeyPem: keyA }, { confirmed: true })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(records()).toEqual([]);
  });
});
