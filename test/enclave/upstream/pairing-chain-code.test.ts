// The chain code over the live pairing link: the reference coordinator and the co-signer agree on
// it; a chain-code reveal altered on the way is blamed on its sender; a co-signer (or anyone
// speaking for it) that reports another chain code at dkg.finish or in pair.summary is refused.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../proto/ports.ts';
import { ed25519PublicKey } from '../../../proto/coordinator/envelope.ts';
import { approvalDigest, CoordinatorClient } from '../../../enclave/upstream/client.ts';
import { pair, type CoordinatorRequester } from '../../../enclave/upstream/pairing.ts';
import { userStoreFromVault } from '../../../enclave/upstream/user-store.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { startCoordinator } from '../../../local/coordinator/server.ts';
import { testAttestation } from '../../support/attested.ts';
import { inProcessHost } from '../../../enclave/mpc/ecdsa/host/host.ts';
import { ecdsaProtocols } from '../../../enclave/mpc/ecdsa/host/protocols.ts';

type Rec = Record<string, unknown>;
const flip = (hex: string): string => (hex.startsWith('00') ? '01' : '00') + hex.slice(2);

describe('chain code over the pairing link', () => {
  let coord: Awaited<ReturnType<typeof startCoordinator>>;
  let client: CoordinatorClient;
  let att: Awaited<ReturnType<typeof testAttestation>>;
  let conn: CoordinatorRequester;
  const identity = { cosignerId: 'cs-cc', coordinatorAuthKeyPkcs8: generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };

  beforeAll(async () => {
    const ca = await createEphemeralCa('chain code CA');
    att = await testAttestation();
    coord = await startCoordinator({ tls: await ca.issueServerCert(), attestation: att.policy });
    const vault = { get state() { return { users: [] }; }, update: async () => undefined };
    client = new CoordinatorClient({
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
    conn = await client.waitConnected(10_000);
  }, 30_000);
  afterAll(async () => {
    await client?.stop();
    await coord?.close();
  });

  /** Pairs user `id`, letting `tamper` rewrite what goes out and what comes back. */
  const run = (id: string, tamper: { out?: (type: string, body: Rec) => Rec; back?: (type: string, r: Rec) => Rec } = {}) =>
    pair({
      token: coord.issuePairingToken(id, 'ws'),
      coordinatorKey: ed25519PublicKey(coord.publicKeyPem),
      now: Date.now(),
      isUsed: () => false,
      cosignerId: identity.cosignerId,
      attest: att.attestFor(identity, coord.publicKeyPem, coord.ownerPublicKeyPem),
      ecdsaHost: inProcessHost(ecdsaProtocols),
      coordinator: {
        request: async (type, body, o) => {
          const r = (await conn.request(type, tamper.out ? tamper.out(type, body as Rec) : body, o)) as Rec;
          return tamper.back ? tamper.back(type, r) : r;
        },
      },
    });

  it('both sides agree: the co-signer seals a chain code for every key and the summary names it', async () => {
    const summaries: Rec[] = [];
    const user = await run('alice', { out: (t, b) => (t === 'pair.summary' && summaries.push(b.summary as Rec), b) });
    expect(user.keyShares.map((k) => k.scheme).sort()).toEqual(['dkls23-secp256k1', 'frost-ed25519', 'frost-secp256k1-tr']);
    for (const k of user.keyShares) expect(k.chainCode).toMatch(/^[0-9a-f]{64}$/);
    const keys = (summaries[0]!.keys as Rec[]).map((k) => k.chainCode);
    expect(keys).toEqual(user.keyShares.map((k) => k.chainCode));
  });

  it("a reveal altered on the way to the co-signer is blamed on its sender", async () => {
    const back = (t: string, r: Rec): Rec => (t === 'dkg.round2' ? { packages: (r.packages as Rec[]).map((p) => ({ ...p, chainCodeReveal: flip(String(p.chainCodeReveal)) })) } : r);
    await expect(run('bob', { back })).rejects.toMatchObject({ code: 'ERR_BAD_SHARE', details: { identifier: 2 } });
  });

  it('another chain code at dkg.finish is refused by the coordinator', async () => {
    const out = (t: string, b: Rec): Rec => (t === 'dkg.finish' ? { ...b, chainCode: flip(String(b.chainCode)) } : b);
    await expect(run('carol', { out })).rejects.toMatchObject({ code: 'ERR_BAD_SHARE' });
  });

  it('a pairing summary naming another chain code is refused by the coordinator', async () => {
    const out = (t: string, b: Rec): Rec => {
      if (t !== 'pair.summary') return b;
      const s = b.summary as Rec;
      return { summary: { ...s, keys: (s.keys as Rec[]).map((k) => ({ ...k, chainCode: flip(String(k.chainCode)) })) } };
    };
    await expect(run('dave', { out })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});
