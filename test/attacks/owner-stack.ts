// Test helper for the owner-gated change attacks: a real Cosigner on real backends (the vault module
// is replaced by the test file's vi.mock so no KMS is needed) with the reference coordinator over
// loopback TLS and the sample Callback Handler; the attacker plays the parent through the Control
// service the wire runtime registers.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import pino from 'pino';
import { db } from './owner-db.ts';
import type { UpstreamHooks } from '../../enclave/services/backends.ts';
import { createRealBackends } from '../../enclave/services/real-backends.ts';
import { writeBootDescriptor } from '../../enclave/services/boot-descriptor.ts';
import { Cosigner } from '../../enclave/services/cosigner.ts';
import { createControlService } from '../../enclave/services/control.ts';
import { MemoryBlobStore } from '../../parent/storage/memory-blob-store.ts';
import { systemClock } from '../../proto/ports.ts';
import { createEphemeralCa } from '../../local/local-ca.ts';
import { startCoordinator } from '../../local/coordinator/server.ts';
import { startSampleHandler } from '../../local/callback-handler/handler.ts';
import { testAttestation } from '../support/attested.ts';

export const ARN = 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234';

export async function startOwnerStack() {
  const ca = await createEphemeralCa('owner attack CA');
  // A development attestor with fixed PCRs, and a coordinator whose policy admits exactly that build:
  // the coordinator refuses any co-signer whose `attest` document does not verify.
  const att = await testAttestation();
  const coord = await startCoordinator({ tls: await ca.issueServerCert(), attestation: att.policy });
  const auth = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex');
  const callbackKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex');
  const cosignerPublicKeyPem = createPublicKey(createPrivateKey({ key: Buffer.from(callbackKey, 'hex'), format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'pem' }) as string;
  const handler = await startSampleHandler({ mode: 'public-key', cosignerPublicKeyPem, rules: { maxAmountPerAsset: { ETH: '5' } } });
  db.state = {
    formatVersion: 1,
    identity: { cosignerId: 'c-owner', callbackSigningKeyPkcs8: callbackKey, coordinatorAuthKeyPkcs8: auth },
    coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem },
    kms: { keyArn: ARN, region: 'us-east-1' },
    owner: { publicKeyPem: coord.ownerPublicKeyPem },
    users: [],
  };
  const blobs = new MemoryBlobStore();
  await blobs.put('secrets.key', new Uint8Array([1]), 0n);
  await writeBootDescriptor(blobs, { version: 1, cosignerId: 'c-owner', keyArn: ARN, region: 'us-east-1' });
  const ports = { dial: async (host: string, port: number) => net.connect({ host, port }), blobs, credentials: { get: async () => ({ accessKeyId: 'A', secretAccessKey: 'B' }) }, logs: { write: () => undefined }, clock: systemClock };
  const logger = pino({ level: 'silent' });
  const backends = createRealBackends({ ports, attestor: att.attestor, logger, localMode: true, tlsCaPem: ca.certPem, callback: {} });
  let hooks: UpstreamHooks | undefined;
  const start = backends.startUpstream.bind(backends);
  backends.startUpstream = (v, h) => ((hooks = h), start(v, h));
  const cosigner = new Cosigner({ backends, attestor: att.attestor, buildId: 'b', localMode: true, logger, clock: systemClock });
  await cosigner.boot();
  const control = createControlService(cosigner, logger);
  // Pair a user whose handler allows at most 5 ETH, and have the owner activate it.
  const token = coord.issuePairingToken('alice', 'ws');
  await control.AddUser({ pairingToken: token, callback: { url: handler.url, authMode: 'public-key', handlerPublicKeyPem: handler.publicKeyPem } } as never, {} as never);
  await coord.approveUser('alice');
  return {
    ca,
    att,
    coord,
    handler,
    cosigner,
    control,
    ownerDecision: (body: unknown) => (hooks?.onOwnerDecision as (b: unknown) => Promise<unknown>)(body),
    sealedUser: () => db.state?.users.find((u) => u.id === 'alice'),
    async close() {
      await cosigner.shutdown();
      await handler.close();
      await coord.close();
    },
  };
}
