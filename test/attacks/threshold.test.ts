// Attack 8: the coordinator (or whoever speaks for it) answers pair.register with a t-of-n in which
// the parties it holds could sign without the co-signer, e.g. 2-of-3 holding parties 2 and 3. The
// co-signer refuses before any DKG: no key share is created, nothing is sealed, the Callback
// Handler cannot be bypassed.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../proto/ports.ts';
import { ed25519PublicKey } from '../../proto/coordinator/envelope.ts';
import { approvalDigest, CoordinatorClient } from '../../enclave/upstream/client.ts';
import { pair } from '../../enclave/upstream/pairing.ts';
import { checkThresholdPolicy } from '../../enclave/upstream/pairing-summary.ts';
import { userStoreFromVault } from '../../enclave/upstream/user-store.ts';
import type { ApiUserRecord } from '../../enclave/vault/records.ts';
import { createEphemeralCa } from '../../local/local-ca.ts';
import { startCoordinator } from '../../local/coordinator/server.ts';
import { testAttestation } from '../support/attested.ts';

describe('attack: the coordinator chooses a threshold that leaves the co-signer out', () => {
  it('2-of-3 at pair.register: ERR_THRESHOLD_POLICY before any DKG, nothing sealed', async () => {
    const ca = await createEphemeralCa('threshold CA');
    const att = await testAttestation();
    const coord = await startCoordinator({ tls: await ca.issueServerCert(), threshold: 2, participants: 3, attestation: att.policy });
    const identity = { cosignerId: 'cs-t', coordinatorAuthKeyPkcs8: generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
    let sealed: ApiUserRecord[] = [];
    let writes = 0;
    const vault = {
      get state() {
        return { users: sealed };
      },
      update: async (m: (s: { users: ApiUserRecord[] }) => { users: ApiUserRecord[] }) => void ((sealed = m({ users: sealed }).users), writes++),
    };
    const client = new CoordinatorClient({
      dial: async (host, port) => net.connect({ host, port }),
      clock: systemClock,
      identity,
      coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem },
      attest: att.attestFor(identity, coord.publicKeyPem, coord.ownerPublicKeyPem),
      ownerPublicKeyPem: coord.ownerPublicKeyPem,
      tls: { ca: ca.certPem },
      users: userStoreFromVault(vault as never),
      approve: async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) }),
    }).start();
    try {
      const conn = await client.waitConnected(10_000);
      // Pairing over the live link, recording what the co-signer sends.
      const sent: string[] = [];
      const err = await pair({
        token: coord.issuePairingToken('carol', 'ws'),
        coordinatorKey: ed25519PublicKey(coord.publicKeyPem),
        now: Date.now(),
        isUsed: () => false,
        coordinator: { request: (type, body, o) => (sent.push(type), conn.request(type, body, o)) },
        cosignerId: identity.cosignerId,
        attest: att.attestFor(identity, coord.publicKeyPem, coord.ownerPublicKeyPem),
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_THRESHOLD_POLICY', details: { threshold: 2, participants: 3 } });
      expect(sent).toEqual(['pair.challenge', 'pair.register', 'pair.abort']);
      // Through the client as `cosigner pair` runs it: same refusal, nothing sealed.
      await expect(client.pair(coord.issuePairingToken('dave', 'ws'))).rejects.toMatchObject({ code: 'ERR_THRESHOLD_POLICY' });
      expect(sealed).toEqual([]);
      expect(writes).toBe(0);
    } finally {
      await client.stop();
      await coord.close();
    }
  });

  it('the rule: every signing set must include the co-signer (t > n − 1)', () => {
    expect(() => checkThresholdPolicy(2, [1, 2], 1)).not.toThrow();
    expect(() => checkThresholdPolicy(3, [1, 2, 3], 1)).not.toThrow();
    for (const [t, parts, own] of [[2, [1, 2, 3], 1], [1, [1, 2], 1], [3, [1, 2, 3, 4], 1], [2, [2, 3], 1]] as const) {
      expect(() => checkThresholdPolicy(t, parts, own), `${t} of ${parts.join(',')}`).toThrow(expect.objectContaining({ code: 'ERR_THRESHOLD_POLICY' }));
    }
  });
});
