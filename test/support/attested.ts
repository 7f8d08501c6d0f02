// Test helper: a development attestation authority and attestor with fixed PCRs, the coordinator
// policy that admits exactly that build, and the `attest` function a CoordinatorClient needs.
import { generateKeyPairSync } from 'node:crypto';
import { DevAttestor, DevAuthority } from '../../enclave/dev/dev-authority.ts';
import { identityKeysOf } from '../../enclave/services/identity.ts';
import { identityUserData } from '../../proto/attestation/identity.ts';
import type { AttestationPolicy } from '../../proto/coordinator/attested-link.ts';
import { PROTOCOL_VERSION } from '../../proto/coordinator/handshake.ts';
import type { SecretsState } from '../../enclave/vault/records.ts';

const pcr = (b: number): Uint8Array => new Uint8Array(48).fill(b);
const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

export async function testAttestation(): Promise<{
  policy: AttestationPolicy;
  authority: DevAuthority;
  attestor: DevAttestor;
  /** `attestor` defaults to the allowed build's; pass another to attest as a different build. */
  attestFor(
    o: { cosignerId: string; coordinatorAuthKeyPkcs8: string; callbackSigningKeyPkcs8?: string },
    coordinatorPublicKeyPem: string,
    ownerPublicKeyPem?: string,
    attestor?: DevAttestor,
  ): (nonce: Uint8Array) => Promise<Uint8Array>;
}> {
  const authority = await DevAuthority.createEphemeral();
  const attestor = new DevAttestor({ authority, pcrs: new Map([[0, pcr(1)], [1, pcr(2)], [2, pcr(3)]]) });
  const callbackKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex');
  return {
    policy: { roots: [{ pem: authority.rootPem }], allowedMeasurements: [{ PCR0: hex(pcr(1)), PCR1: hex(pcr(2)), PCR2: hex(pcr(3)) }] },
    authority,
    attestor,
    attestFor(o, coordinatorPublicKeyPem, ownerPublicKeyPem, by = attestor) {
      const state = {
        identity: { cosignerId: o.cosignerId, coordinatorAuthKeyPkcs8: o.coordinatorAuthKeyPkcs8, callbackSigningKeyPkcs8: o.callbackSigningKeyPkcs8 || callbackKey },
        coordinator: { url: '127.0.0.1:1', publicKeyPem: coordinatorPublicKeyPem },
        ...(ownerPublicKeyPem ? { owner: { publicKeyPem: ownerPublicKeyPem } } : {}),
      } as SecretsState;
      const userData = identityUserData({ ...identityKeysOf(state), protocolVersion: PROTOCOL_VERSION, buildId: 'test-build' });
      return (nonce) => by.attest({ nonce, userData });
    },
  };
}
