// Test fixture: the whole sealed-secrets path on loopback, as in local mode: development attestation
// authority, KMS stand-in over TLS (local CA) with the generated key policy, IMDSv2 stand-in feeding
// the parent's credential source, the file blob store in a temporary COSIGNER_HOME, and the enclave
// KMS client reaching KMS only through a (recording) Dial.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { DevAttestor, DevAuthority } from '../../../enclave/dev/dev-authority.ts';
import { createKmsClient } from '../../../enclave/kms/client.ts';
import type { SecretsState } from '../../../enclave/vault/records.ts';
import { ImdsCredentialSource } from '../../../parent/credentials/imds.ts';
import { FileBlobStore } from '../../../parent/storage/file-blob-store.ts';
import { buildKeyPolicy, type Measurements } from '../../../proto/kms/key-policy.ts';
import { createEphemeralCa, type IssuedCert, type LocalCa } from '../../../local/local-ca.ts';
import { startImdsStandin, type ImdsStandin } from '../../../local/imds/server.ts';
import { startKmsStandin, type KmsStandin } from '../../../local/kms/server.ts';
import { loopbackDial, type LoopbackDial } from '../../../local/kms/loopback-dial.ts';

export const ADMIN_ARN = 'arn:aws:iam::111122223333:role/kms-admin';

export const pcrHex = (seed: string): string => createHash('sha384').update(seed).digest('hex');

export function measurementsFor(seed: string): Measurements {
  return { PCR0: pcrHex(`${seed}/0`), PCR1: pcrHex(`${seed}/1`), PCR2: pcrHex(`${seed}/2`) };
}

export function pcrMap(m: Measurements): Map<number, Uint8Array> {
  return new Map([
    [0, Buffer.from(m.PCR0, 'hex')],
    [1, Buffer.from(m.PCR1, 'hex')],
    [2, Buffer.from(m.PCR2, 'hex')],
  ]);
}

export interface Stack {
  readonly home: string;
  readonly kmsDir: string;
  readonly ca: LocalCa;
  readonly tls: IssuedCert;
  readonly authority: DevAuthority;
  kms: KmsStandin;
  readonly imds: ImdsStandin;
  readonly blobs: FileBlobStore;
  readonly keyArn: string;
  readonly measurements: Measurements;
  readonly recorder: LoopbackDial;
  /** Plaintexts the KMS stand-in released or generated (secrets.key), for canary checks. */
  readonly kmsPlaintexts: Buffer[];
  attestor(m?: Measurements, debug?: boolean): DevAttestor;
  kmsClient(): KMSClient;
  /** Restarts the KMS stand-in on the same key directory. */
  restartKms(): Promise<void>;
  close(): Promise<void>;
}

export async function startStack(opts: { record?: boolean; policyAlso?: Measurements[] } = {}): Promise<Stack> {
  const home = mkdtempSync(join(tmpdir(), 'ncs-home-'));
  const kmsDir = mkdtempSync(join(tmpdir(), 'ncs-kmsdir-'));
  const ca = await createEphemeralCa();
  const tls = await ca.issueServerCert();
  const authority = await DevAuthority.createEphemeral();
  const imds = await startImdsStandin();
  const kmsPlaintexts: Buffer[] = [];
  const startKms = (): Promise<KmsStandin> =>
    startKmsStandin({
      dir: kmsDir,
      trustRootsPem: [authority.rootPem],
      tls,
      principals: (id) => imds.lookup(id) ?? (id === 'AKIDADMIN' ? { secretAccessKey: 'admin-secret', arn: ADMIN_ARN } : undefined),
      onPlaintext: (_op, pt) => kmsPlaintexts.push(Buffer.from(pt)),
    });
  let kms = await startKms();
  const measurements = measurementsFor('image-v1');
  const policy = buildKeyPolicy({ measurements, instanceRoleArn: imds.roleArn, adminArn: ADMIN_ARN, also: opts.policyAlso ?? [] });
  const keyArn = (await kms.createKey(policy, 'nitro-cosigner test')).arn;
  const blobs = await FileBlobStore.open(home, { keepBackups: 5 });
  const recorder = loopbackDial({ record: opts.record ?? false });
  const credentials = new ImdsCredentialSource({ endpoint: imds.url });
  const clients: KMSClient[] = [];
  const stack: Stack = {
    home,
    kmsDir,
    ca,
    tls,
    authority,
    get kms() {
      return kms;
    },
    set kms(k) {
      kms = k;
    },
    imds,
    blobs,
    keyArn,
    measurements,
    recorder,
    kmsPlaintexts,
    attestor: (m = measurements, debug = false) => new DevAttestor({ authority, pcrs: pcrMap(m), debug, instanceId: 'i-0123456789abcdef0' }),
    kmsClient() {
      const c = createKmsClient({
        region: 'us-east-1',
        endpoint: `https://localhost:${kms.port}`,
        caPem: ca.certPem,
        dial: recorder.dial,
        credentials,
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
    async restartKms() {
      await kms.close();
      kms = await startKms();
    },
    async close() {
      for (const c of clients) c.destroy();
      await kms.close();
      await imds.close();
      rmSync(home, { recursive: true, force: true });
      rmSync(kmsDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** A plausible secrets state; `canary` is planted in every secret field. */
export function sampleState(cosignerId: string, canary = randomBytes(24).toString('hex')): SecretsState {
  return {
    formatVersion: 1,
    identity: { cosignerId, callbackSigningKeyPkcs8: `${canary}01`, coordinatorAuthKeyPkcs8: `${canary}02` },
    coordinator: { url: 'https://coordinator.example', publicKeyPem: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n' },
    kms: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/x', region: 'us-east-1' },
    users: [
      {
        id: 'user-1',
        workspace: 'ws-1',
        createdAt: 1,
        status: 'active',
        approvalKeyPkcs8: `${canary}03`,
        keyShares: [
          {
            keyId: 'k1', scheme: 'frost-ed25519', threshold: 2, participants: [1, 2, 3], identifier: 2,
            secretShare: `${canary}04`, groupPublicKey: 'ab'.repeat(32), verifyingShares: { '1': 'cd'.repeat(32) }, createdAt: 1,
          },
        ],
      },
    ],
  };
}
