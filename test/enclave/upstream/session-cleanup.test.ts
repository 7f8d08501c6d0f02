// A burst of transactions some of which fail after the co-signer was asked to commit (the approval
// step refuses, the coordinator's own commitment fails before or after the co-signer opened its
// session): every co-signer session is closed soon after, none waits out its 120 s TTL holding nonces.
// The reference coordinator and the enclave's coordinator client over loopback TLS.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../proto/ports.ts';
import { CosignerError } from '../../../proto/errors.ts';
import { approvalDigest, CoordinatorClient } from '../../../enclave/upstream/client.ts';
import { memoryUserStore } from '../../../enclave/upstream/user-store.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../../local/coordinator/server.ts';
import { testAttestation } from '../../support/attested.ts';

// The coordinator's own round 1 fails for payloads that ask for it: at once (the co-signer is still
// in its approval step) or late (the co-signer has opened its session by then).
vi.mock('../../../local/coordinator/signer-core.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../local/coordinator/signer-core.ts')>();
  return {
    ...real,
    localSigner: () => {
      const s = real.localSigner();
      return {
        ...s,
        commit: async (job: Parameters<typeof s.commit>[0]) => {
          const text = Buffer.from(job.message).toString();
          if (text.startsWith('fail-early')) throw new CosignerError('ERR_INTERNAL', 'own commitment failed (test)');
          if (text.startsWith('fail-late')) {
            await new Promise((r) => setTimeout(r, 150));
            throw new CosignerError('ERR_INTERNAL', 'own commitment failed (test)');
          }
          return s.commit(job);
        },
      };
    },
  };
});

let coord: RunningCoordinator;
let client: CoordinatorClient;
const users = memoryUserStore();

beforeAll(async () => {
  const ca = await createEphemeralCa('session cleanup CA');
  const att = await testAttestation();
  coord = await startCoordinator({ tls: await ca.issueServerCert() , attestation: att.policy });
  const kp = generateKeyPairSync('ed25519');
  client = new CoordinatorClient({
    dial: async (host, port) => net.connect({ host, port }),
    clock: systemClock,
    identity: { cosignerId: 'cosigner-cleanup', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') },
    attest: att.attestFor({ cosignerId: 'cosigner-cleanup', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') }, coord.publicKeyPem, coord.ownerPublicKeyPem),
    ownerPublicKeyPem: coord.ownerPublicKeyPem,
    coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem },
    tls: { ca: ca.certPem },
    users,
    // A short approval step, as a Callback Handler's round trip; payloads saying so are refused.
    approve: async (_u, req) => {
      await new Promise((r) => setTimeout(r, 30));
      const text = Buffer.from(req.rawTx[0]?.payload ?? '', 'hex').toString();
      return { approved: !text.startsWith('refuse'), payloadDigest: approvalDigest(req) };
    },
  }).start();
  await client.waitConnected(10_000);
  const record = await client.pair(coord.issuePairingToken('bob', 'ws-1'));
  users.put(record);
  await client.send('pair.commit', { pairingId: record.pairingId });
  await coord.approveUser('bob');
  const end = Date.now() + 10_000;
  while (users.get('bob')?.status !== 'active' && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
});

afterAll(async () => {
  await client?.stop();
  await coord?.close();
});

describe('signing sessions of failed transactions are closed promptly', () => {
  it('a burst with refused and failed transactions leaves no session open', async () => {
    const kinds = ['ok', 'refuse', 'fail-early', 'fail-late'] as const;
    const burst = Array.from({ length: 24 }, (_, i) => kinds[i % kinds.length]!);
    const results = await Promise.all(
      burst.map((k, i) =>
        coord.createTransaction({ userId: 'bob', asset: 'SOL', amount: '1', destination: 'd', scheme: 'frost-ed25519', payload: Buffer.from(`${k} ${i}`).toString('hex') }),
      ),
    );
    const byKind = (k: string) => results.filter((_, i) => burst[i] === k).map((r) => r.status);
    expect(new Set(byKind('ok'))).toEqual(new Set(['signed']));
    expect(new Set(byKind('refuse'))).toEqual(new Set(['rejected']));
    expect(new Set([...byKind('fail-early'), ...byKind('fail-late')])).toEqual(new Set(['failed']));
    // The aborts are sent after the transactions' outcomes: wait for them, with a bound far below the TTL.
    const end = Date.now() + 10_000;
    while (client.openSessions() > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(client.openSessions()).toBe(0);
    // Approvals still running when their transaction failed do not open a session afterwards.
    await new Promise((r) => setTimeout(r, 100));
    expect(client.openSessions()).toBe(0);
  }, 60_000);
});
