// Attack: a pairing token is stolen while the genuine co-signer A's pairing with it is uncommitted
// (A died before pair.commit). The coordinator accepts a spent token again only from the co-signer
// that spent it (same id and auth key) and only while the user is not created, so the thief, even
// running a genuine attested enclave build as co-signer B, is refused with ERR_PAIRING_TOKEN_REUSED
// and never receives a DKG message; the pairing id the owner's REST view names does not help it.
// A re-runs add-user with the same token and finishes.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FramedSocket, PeerConnection } from '../../proto/coordinator/connection.ts';
import { ed25519PublicKey, spkiB64 } from '../../proto/coordinator/envelope.ts';
import { clientHandshake } from '../../proto/coordinator/handshake.ts';

// Where to cut A's connection at the coordinator (as in test/faults/pairing-kill.test.ts).
const fault = vi.hoisted(() => ({ cutAt: undefined as { type: string; when: 'before' | 'after' } | undefined }));

vi.mock('../../local/coordinator/pairing.ts', async (importOriginal) =>
  (await import('./coordinator-cut.ts')).cuttablePairing(await importOriginal<typeof import('../../local/coordinator/pairing.ts')>(), fault),
);
vi.mock('../../enclave/vault/vault.ts', async () => (await import('./owner-db.ts')).mockedVaultModule());
vi.mock('../../enclave/kms/key-admission.ts', () => ({ admitKmsKey: vi.fn(async () => ({ admitted: true, problems: [], changeable: false, editors: [] })) }));

const { startOwnerStack } = await import('./owner-stack.ts');
const { db } = await import('./owner-db.ts');
let s: Awaited<ReturnType<typeof startOwnerStack>>;

beforeAll(async () => {
  s = await startOwnerStack();
}, 60_000);
afterAll(async () => {
  fault.cutAt = undefined;
  await s?.close();
});

async function addUser(token: string) {
  return s.control.AddUser({ pairingToken: token, callback: { url: s.handler.url, authMode: 'public-key', handlerPublicKeyPem: s.handler.publicKeyPem } } as never, {} as never);
}

interface Thief {
  conn: PeerConnection;
  received: string[];
  id: { cosignerId: string; coordinatorAuthKeyPkcs8: string; key: KeyObject; pub: KeyObject };
}

/**
 * Co-signer B: its own auth key and id, on a link attested with a genuine document from the allowed
 * build (the strongest thief: the token is all it lacks). Records every request the coordinator
 * sends it: DKG packages would arrive here.
 */
async function attestedThief(cosignerId: string): Promise<Thief> {
  const kp = generateKeyPairSync('ed25519');
  const id = { cosignerId, coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'), key: kp.privateKey, pub: kp.publicKey };
  const [host, port] = s.coord.cosignerUrl.split(':') as [string, string];
  const socket = tls.connect({ host, port: Number(port), ca: s.ca.certPem, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const framed = new FramedSocket(socket);
  let nonce = '';
  const channel = await clientHandshake(framed, { authKey: id.key, authPublicKey: id.pub, cosignerId, coordinatorKey: ed25519PublicKey(s.coord.publicKeyPem), timeoutMs: 5_000, onWelcome: (n) => (nonce = n) });
  const received: string[] = [];
  const conn = new PeerConnection({ framed, channel, handler: async (type) => (received.push(type), {}) });
  const attest = s.att.attestFor(id, s.coord.publicKeyPem, s.coord.ownerPublicKeyPem);
  await conn.request('attest', { document: b64(await attest(Buffer.from(nonce, 'hex'))) }, { timeoutMs: 5_000 });
  return { conn, received, id };
}

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

/** pair.register with the stolen token and a fresh, genuine pairing attestation. */
async function registerWith(t: Thief, token: string): Promise<unknown> {
  const { nonce } = (await t.conn.request('pair.challenge', {})) as { nonce: string };
  const attestation = b64(await s.att.attestFor(t.id, s.coord.publicKeyPem, s.coord.ownerPublicKeyPem)(Buffer.from(nonce, 'hex')));
  const approvalPublicKey = spkiB64(generateKeyPairSync('ed25519').publicKey);
  return t.conn.request('pair.register', { token, approvalPublicKey, schemes: ['frost-ed25519'], attestation }, { timeoutMs: 5_000 });
}

async function ownerView(userId: string): Promise<{ status: number; body: { error?: { code: string; details?: { pairingId?: string } } } }> {
  const r = await fetch(`${s.coord.restUrl}/v1/users/${userId}`);
  return { status: r.status, body: (await r.json()) as never };
}

// After pair.summary: A holds nothing sealed. Before pair.commit: A sealed a pending user.
const cuts = [
  { type: 'pair.summary', when: 'after' },
  { type: 'pair.commit', when: 'before' },
] as const;

describe('attack: a stolen token from an uncommitted pairing, presented by another attested co-signer', () => {
  cuts.forEach((c, i) => {
    it(`A cut ${c.when} ${c.type}: B is refused ERR_PAIRING_TOKEN_REUSED and gets no DKG message; A finishes`, async () => {
      const userId = `stolen-${i}`;
      const token = s.coord.issuePairingToken(userId, 'ws');
      fault.cutAt = c;
      await expect(addUser(token)).rejects.toBeDefined();
      expect(fault.cutAt).toBeUndefined(); // the cut happened
      const view = await ownerView(userId);
      // Uncommitted at the coordinator (or, after the summary cut, already aborted by A on reconnect).
      expect([409, 404]).toContain(view.status);
      if (c.type === 'pair.commit') expect(view.body.error?.code).toBe('ERR_PAIRING_UNCOMMITTED');

      const thief = await attestedThief('cs-thief');
      await expect(registerWith(thief, token)).rejects.toMatchObject({ code: 'ERR_PAIRING_TOKEN_REUSED' });
      // The pairing id the owner's view names is bound to A: B cannot drive or commit it.
      const leaked = view.body.error?.details?.pairingId;
      if (leaked) {
        await expect(thief.conn.request('dkg.round1', { pairingId: leaked, scheme: 'frost-ed25519', package: {} }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
        await expect(thief.conn.request('pair.commit', { pairingId: leaked }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      }
      // B claiming A's id with its own key does not get past hello (A's id is bound to A's key).
      await expect(attestedThief('c-owner')).rejects.toHaveProperty('code');
      expect(thief.received).toEqual([]);
      expect((await ownerView(userId)).status).not.toBe(200);

      // A, with the same token, finishes; the owner approves; the user signs.
      const r = await addUser(token);
      expect(r.user?.id ?? (r as { id?: string }).id).toBe(userId);
      await s.coord.approveUser(userId);
      expect(db.state?.users.find((u) => u.id === userId)?.status).toBe('active');
      const tx = await s.coord.createTransaction({ userId, asset: 'ETH', amount: '1', destination: 'd', payload: 'ab'.repeat(32), scheme: 'frost-ed25519' });
      expect(tx.status).toBe('signed');
      // Once the user exists the token is spent for good.
      await expect(registerWith(thief, token)).rejects.toMatchObject({ code: 'ERR_PAIRING_TOKEN_REUSED' });
      expect(thief.received).toEqual([]);
      thief.conn.close('done');
    }, 60_000);
  });
});
