// The production wiring of the rollback floor: the coordinator client started by createRealBackends
// states the vault's generation in its hello and reports every sealed write, and the Cosigner status
// shows a refusal. The vault module is replaced (vi.mock) so no KMS is needed; the coordinator is
// the reference one over loopback TLS.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SecretsState } from '../../../enclave/vault/records.ts';

const db: { state: SecretsState | undefined; generation: bigint } = { state: undefined, generation: 5n };
vi.mock('../../../enclave/vault/vault.ts', () => ({
  SECRETS_KEY_BLOB: 'secrets.key',
  SECRETS_DB_BLOB: 'secrets.db',
  Vault: {
    setup: vi.fn(async () => {
      throw new Error('Vault.setup must not be reached in these tests');
    }),
    unseal: vi.fn(async () => ({
      get state() {
        return db.state;
      },
      get dbGeneration() {
        return db.generation;
      },
      update: async (m: (s: SecretsState) => SecretsState) => {
        db.state = m(db.state as SecretsState);
        db.generation++;
      },
      close: () => undefined,
    })),
  },
}));

// The key-policy check is tested on its own (test/attacks/kms-key-choice.test.ts): admit here.
vi.mock('../../../enclave/kms/key-admission.ts', () => ({
  admitKmsKey: vi.fn(async () => ({ admitted: true, problems: [], changeable: true, editors: ['arn:aws:iam::111122223333:role/kms-admin'] })),
}));

const { createRealBackends } = await import('../../../enclave/services/real-backends.ts');
const { writeBootDescriptor } = await import('../../../enclave/services/boot-descriptor.ts');
const { MemoryBlobStore } = await import('../../../parent/storage/memory-blob-store.ts');
const { systemClock } = await import('../../../proto/ports.ts');
const { createEphemeralCa } = await import('../../../local/local-ca.ts');
const { startCoordinator } = await import('../../../local/coordinator/server.ts');
const { CoordinatorClient, approvalDigest } = await import('../../../enclave/upstream/client.ts');
const { memoryUserStore } = await import('../../../enclave/upstream/user-store.ts');
const { fakeAttestor } = await import('./fakes.ts');
const { testAttestation } = await import('../../support/attested.ts');

const ARN = 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234';
const auth = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex');
const callbackKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex');

let ca: Awaited<ReturnType<typeof createEphemeralCa>>;
let coord: Awaited<ReturnType<typeof startCoordinator>>;
let att: Awaited<ReturnType<typeof testAttestation>>;

beforeAll(async () => {
  ca = await createEphemeralCa('wiring CA');
  att = await testAttestation();
  coord = await startCoordinator({ tls: await ca.issueServerCert(), attestation: att.policy });
  db.state = {
    formatVersion: 1,
    identity: { cosignerId: 'c-wired', callbackSigningKeyPkcs8: callbackKey, coordinatorAuthKeyPkcs8: auth },
    coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem },
    kms: { keyArn: ARN, region: 'us-east-1' },
    owner: { publicKeyPem: coord.ownerPublicKeyPem },
    users: [],
  };
  // Pair once (directly with the client) so the coordinator keeps a mark for this co-signer.
  const c = new CoordinatorClient({
    dial: async (host, port) => net.connect({ host, port }),
    clock: systemClock,
    identity: db.state.identity,
    coordinator: db.state.coordinator,
    attest: att.attestFor(db.state.identity, coord.publicKeyPem, coord.ownerPublicKeyPem),
    ownerPublicKeyPem: coord.ownerPublicKeyPem,
    tls: { ca: ca.certPem },
    users: memoryUserStore(),
    approve: async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) }),
  }).start();
  await c.waitConnected(5_000);
  await c.pair(coord.issuePairingToken('u1', 'ws'), { schemes: ['frost-ed25519'] });
  await c.stop();
});

afterAll(async () => {
  await coord?.close();
});

async function unsealed() {
  const blobs = new MemoryBlobStore();
  await writeBootDescriptor(blobs, { version: 1, cosignerId: 'c-wired', keyArn: ARN, region: 'us-east-1' });
  const ports = { dial: async (host: string, port: number) => net.connect({ host, port }), blobs, credentials: { get: async () => ({ accessKeyId: 'A', secretAccessKey: 'B' }) }, logs: { write: () => undefined }, clock: systemClock };
  const b = createRealBackends({ ports, attestor: att.attestor, logger: pino({ level: 'silent' }), localMode: true, tlsCaPem: ca.certPem, callback: {} });
  return { b, vault: await b.unsealVault({}) };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('real backends: sealed-DB generation floor', () => {
  it('states the generation on connect and reports every sealed write', async () => {
    const { b, vault } = await unsealed();
    const up = b.startUpstream(vault);
    try {
      await until(() => up.state() === 'connected' && coord.generationMark('c-wired') === 5);
      expect(coord.generationMark('c-wired')).toBe(5);
      await vault.update((s) => s);
      await vault.update((s) => s);
      await until(() => coord.generationMark('c-wired') === 7);
      expect(coord.generationMark('c-wired')).toBe(7);
      expect(up.refusal?.()).toBeUndefined();
    } finally {
      await up.stop();
    }
  });

  it('an older DB after a restart: the client stops and refusal() carries ERR_ROLLBACK', async () => {
    db.generation = 3n; // the parent served an older secrets.db
    const { b, vault } = await unsealed();
    const up = b.startUpstream(vault);
    try {
      await until(() => up.refusal?.() !== undefined);
      expect(up.refusal?.()).toMatchObject({ code: 'ERR_ROLLBACK' });
      expect(up.state()).toBe('unavailable');
      expect(coord.generationMark('c-wired')).toBe(7);
    } finally {
      await up.stop();
    }
  });
});

describe('Cosigner status with a refusing coordinator client', () => {
  it('reports ERR_ROLLBACK with what to do', async () => {
    const { Cosigner } = await import('../../../enclave/services/cosigner.ts');
    const { FakeBackends, SETUP, captureLogger, instantClock } = await import('./fakes.ts');
    const { rollbackRefusal } = await import('../../../proto/coordinator/handshake.ts');
    class Refusing extends FakeBackends {
      override startUpstream() {
        return { state: () => 'unavailable' as const, openSessions: () => 0, refusal: () => rollbackRefusal(3, 7), stop: async () => undefined };
      }
    }
    const cosigner = new Cosigner({ backends: new Refusing(), attestor: fakeAttestor('dev'), buildId: 'b', localMode: false, logger: captureLogger().logger, clock: instantClock() });
    await cosigner.boot();
    await cosigner.setup(SETUP);
    const s = cosigner.status();
    expect(s.state).toBe('unsealed');
    expect(s.coordinator).toBe('unavailable');
    expect(s.errorCode).toBe('ERR_ROLLBACK');
    expect(s.errorMessage).toMatch(/older than one this co-signer already used/);
    expect(s.errorMessage).toMatch(/restore the newest backup/);
    expect(s.notes.join(' ')).toMatch(/acknowledged by the workspace owner at the coordinator/);
  });
});
