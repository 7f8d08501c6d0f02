// Attack 4: a process outside the enclave (root on the parent, or anyone who stole a pairing
// token) speaks the coordinator protocol to the reference coordinator with keys of its own and
// tries to pass for the co-signer. Without a fresh attestation document from an allowed enclave
// build holding the key it authenticated with, it is refused at hello and at pair.register, and it
// never receives a DKG message or a key share.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevAttestor } from '../../enclave/dev/dev-authority.ts';
import { FramedSocket, PeerConnection } from '../../proto/coordinator/connection.ts';
import { ed25519PublicKey, spkiB64 } from '../../proto/coordinator/envelope.ts';
import { clientHandshake } from '../../proto/coordinator/handshake.ts';
import { createEphemeralCa } from '../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../local/coordinator/server.ts';
import { testAttestation } from '../support/attested.ts';

type Attest = (nonce: Uint8Array) => Promise<Uint8Array>;

let ca: Awaited<ReturnType<typeof createEphemeralCa>>;
let coord: RunningCoordinator;
let att: Awaited<ReturnType<typeof testAttestation>>;

beforeAll(async () => {
  ca = await createEphemeralCa('impersonation CA');
  att = await testAttestation();
  coord = await startCoordinator({ tls: await ca.issueServerCert(), attestation: att.policy });
});

afterAll(async () => {
  await coord?.close();
});

/** The attacker's own identity: a fresh auth key, claiming the co-signer's id. */
function attackerIdentity(cosignerId = 'cs-victim'): { cosignerId: string; coordinatorAuthKeyPkcs8: string; key: KeyObject; pub: KeyObject } {
  const kp = generateKeyPairSync('ed25519');
  return { cosignerId, coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'), key: kp.privateKey, pub: kp.publicKey };
}

/**
 * An authenticated link as `id` (the handshake itself needs no attestation), recording every
 * request the coordinator sends to it: DKG packages or signing requests would arrive here.
 */
async function rawLink(id: ReturnType<typeof attackerIdentity>): Promise<{ conn: PeerConnection; serverNonce: Uint8Array; received: string[] }> {
  const [host, port] = coord.cosignerUrl.split(':') as [string, string];
  const socket = tls.connect({ host, port: Number(port), ca: ca.certPem, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const framed = new FramedSocket(socket);
  let nonce = '';
  const channel = await clientHandshake(framed, {
    authKey: id.key,
    authPublicKey: id.pub,
    cosignerId: id.cosignerId,
    coordinatorKey: ed25519PublicKey(coord.publicKeyPem),
    timeoutMs: 5_000,
    onWelcome: (n) => (nonce = n),
  });
  const received: string[] = [];
  const conn = new PeerConnection({ framed, channel, handler: async (type) => (received.push(type), {}) });
  return { conn, serverNonce: Buffer.from(nonce, 'hex'), received };
}

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

async function expectClosed(conn: PeerConnection): Promise<void> {
  for (let i = 0; i < 100 && !conn.closed; i++) await new Promise((r) => setTimeout(r, 20));
  expect(conn.closed).toBe(true);
}

/** Tries the stolen token straight away: refused, and the user is not registered. */
async function tryPair(conn: PeerConnection, token: string, attestation?: string): Promise<unknown> {
  const approvalPublicKey = spkiB64(generateKeyPairSync('ed25519').publicKey);
  return conn.request('pair.register', { token, approvalPublicKey, schemes: ['frost-ed25519'], ...(attestation ? { attestation } : {}) }, { timeoutMs: 5_000 });
}

async function usersAtCoordinator(): Promise<unknown[]> {
  return ((await (await fetch(`${coord.restUrl}/v1/users`)).json()) as { users: unknown[] }).users;
}

describe('attack: an un-attested process impersonates the co-signer at the coordinator', () => {
  it('no attestation: its first request (pair.register with a stolen token) is refused and the link closed', async () => {
    const token = coord.issuePairingToken('mallory-1', 'ws');
    const link = await rawLink(attackerIdentity());
    await expect(tryPair(link.conn, token)).rejects.toMatchObject({ code: 'ERR_ATTESTATION_REFUSED' });
    await expectClosed(link.conn);
    expect(link.received).toEqual([]);
    expect(await usersAtCoordinator()).toEqual([]);
  });

  it.each([
    ['forged: signed by an authority the coordinator does not trust', async (id: ReturnType<typeof attackerIdentity>, nonce: Uint8Array) => (await testAttestation()).attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem)(nonce)],
    ['replayed: a genuine document over another nonce', async (id: ReturnType<typeof attackerIdentity>) => att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem)(new Uint8Array(32).fill(7))],
    [
      'unlisted measurement: a genuine document from another build',
      async (id: ReturnType<typeof attackerIdentity>, nonce: Uint8Array) => {
        const other = new DevAttestor({ authority: att.authority, pcrs: new Map([[0, new Uint8Array(48).fill(9)], [1, new Uint8Array(48).fill(2)], [2, new Uint8Array(48).fill(3)]]) });
        return att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem, other)(nonce);
      },
    ],
    [
      'another identity: a genuine document for a different auth key',
      async (_id: ReturnType<typeof attackerIdentity>, nonce: Uint8Array) => att.attestFor(attackerIdentity(), coord.publicKeyPem, coord.ownerPublicKeyPem)(nonce),
    ],
    ['garbage bytes', async () => new Uint8Array([0xd2, 0x84, 1, 2, 3])],
  ] as const)('%s: refused at attest, link closed, nothing routed', async (_name, make: (id: ReturnType<typeof attackerIdentity>, nonce: Uint8Array) => Promise<Uint8Array>) => {
    const id = attackerIdentity();
    const link = await rawLink(id);
    const document = await make(id, link.serverNonce);
    await expect(link.conn.request('attest', { document: b64(document) }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'ERR_ATTESTATION_REFUSED' });
    await expectClosed(link.conn);
    expect(link.received).toEqual([]);
    expect(coord.connectedCosigners()).toBe(0);
  });

  it('at pair.register a token alone is not enough: no attestation, a stale one, a reused challenge are refused; no DKG message is sent', async () => {
    // Past hello (an attested link), the pairing still needs its own fresh document.
    const id = attackerIdentity('cs-attested');
    const link = await rawLink(id);
    const attest: Attest = att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem);
    await link.conn.request('attest', { document: b64(await attest(link.serverNonce)) }, { timeoutMs: 5_000 });
    const token = coord.issuePairingToken('mallory-2', 'ws');

    // The link stays open after these refusals (only a hello refusal closes it).
    await expect(tryPair(link.conn, token)).rejects.toMatchObject({ code: 'ERR_ATTESTATION_REFUSED' });
    // Stale: the hello's document (its nonce is no pair.challenge nonce).
    await expect(tryPair(link.conn, token, b64(await attest(link.serverNonce)))).rejects.toMatchObject({ code: 'ERR_ATTESTATION_REFUSED' });
    // A challenge nonce is single use: the first use (with a document for another build) burns it.
    const { nonce } = (await link.conn.request('pair.challenge', {})) as { nonce: string };
    const other = new DevAttestor({ authority: att.authority, pcrs: new Map([[0, new Uint8Array(48).fill(9)], [1, new Uint8Array(48).fill(2)], [2, new Uint8Array(48).fill(3)]]) });
    const wrongBuild = await att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem, other)(Buffer.from(nonce, 'hex'));
    await expect(tryPair(link.conn, token, b64(wrongBuild))).rejects.toMatchObject({ code: 'ERR_ATTESTATION_REFUSED' });
    await expect(tryPair(link.conn, token, b64(await attest(Buffer.from(nonce, 'hex'))))).rejects.toMatchObject({ code: 'ERR_ATTESTATION_REFUSED' });
    // DKG without a registered pairing gets nothing either.
    await expect(link.conn.request('dkg.round1', { pairingId: 'p-guess', scheme: 'frost-ed25519', package: {} }, { timeoutMs: 5_000 })).rejects.toHaveProperty('code');
    expect(link.received).toEqual([]);
    expect(await usersAtCoordinator()).toEqual([]);

    // The refusals did not consume the token: the genuine enclave, with a fresh document, still pairs.
    const fresh = (await link.conn.request('pair.challenge', {})) as { nonce: string };
    await expect(tryPair(link.conn, token, b64(await attest(Buffer.from(fresh.nonce, 'hex'))))).resolves.toMatchObject({ userId: 'mallory-2' });
    link.conn.close('done');
  });
});
