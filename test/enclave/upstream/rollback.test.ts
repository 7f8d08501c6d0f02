// Rollback across enclave restarts: the co-signer states its sealed-DB generation in the
// authenticated hello and reports each new one; the reference coordinator keeps a high-water mark
// per co-signer and returns it in the welcome. An older DB (served by a hostile parent after a
// restart) makes the client stop with ERR_ROLLBACK until the owner acknowledges the restore at the
// coordinator. Reference coordinator over loopback TLS.
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../proto/ports.ts';
import { approvalDigest, CoordinatorClient } from '../../../enclave/upstream/client.ts';
import { FramedSocket } from '../../../proto/coordinator/connection.ts';
import { ed25519PublicKey, parseEnvelope, sealEnvelope } from '../../../proto/coordinator/envelope.ts';
import { clientHandshake } from '../../../proto/coordinator/handshake.ts';
import { memoryUserStore } from '../../../enclave/upstream/user-store.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../../local/coordinator/server.ts';
import { testAttestation } from '../../support/attested.ts';

const COSIGNER_ID = 'cosigner-rollback';
const kp = generateKeyPairSync('ed25519');
const identity = { cosignerId: COSIGNER_ID, coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };

let dir: string;
let ca: Awaited<ReturnType<typeof createEphemeralCa>>;
let serverTls: { certPem: string; keyPem: string };
let coord: RunningCoordinator;
let att: Awaited<ReturnType<typeof testAttestation>>;
const running: CoordinatorClient[] = [];

function client(generation: bigint | undefined, id = identity): CoordinatorClient {
  const c = new CoordinatorClient({
    dial: async (host, port) => net.connect({ host, port }),
    clock: systemClock,
    identity: id,
    coordinator: { url: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem },
    attest: att.attestFor(id, coord.publicKeyPem, coord.ownerPublicKeyPem),
    ownerPublicKeyPem: coord.ownerPublicKeyPem,
    tls: { ca: ca.certPem },
    users: memoryUserStore(),
    approve: async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) }),
    generation: () => generation,
    backoff: { initialMs: 10, maxMs: 20 },
    maxAttempts: 3,
  }).start();
  running.push(c);
  return c;
}

async function rest(p: string, method = 'GET', body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(coord.restUrl + p, { method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  return { status: res.status, json: await res.json() };
}

/** An authenticated raw connection as the co-signer (to send hand-made envelopes). */
async function rawSession(generation: number): Promise<{ framed: FramedSocket; channel: Awaited<ReturnType<typeof clientHandshake>> }> {
  const [host, port] = coord.cosignerUrl.split(':') as [string, string];
  const socket = tls.connect({ host, port: Number(port), ca: ca.certPem, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const framed = new FramedSocket(socket);
  const channel = await clientHandshake(framed, {
    authKey: kp.privateKey,
    authPublicKey: kp.publicKey,
    cosignerId: COSIGNER_ID,
    coordinatorKey: ed25519PublicKey(coord.publicKeyPem),
    timeoutMs: 5_000,
    generation,
  });
  return { framed, channel };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'coord-rollback-'));
  ca = await createEphemeralCa('rollback coordinator CA');
  serverTls = await ca.issueServerCert();
  att = await testAttestation();
  coord = await startCoordinator({ dir, tls: serverTls, attestation: att.policy });
  // Pair once, so the coordinator knows this co-signer and keeps a mark for it.
  const c = client(1n);
  await c.waitConnected(5_000);
  const { json } = await rest('/v1/pairing-tokens', 'POST', { userId: 'alice', workspace: 'ws' });
  await c.pair(json.token, { schemes: ['frost-ed25519'] });
  await c.reportGeneration(2n); // what the sealed write of the new user does
  await c.stop();
});

afterAll(async () => {
  for (const c of running) await c.stop();
  await coord?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sealed-DB generation floor held by the coordinator', () => {
  it('the mark follows generation reports and is persisted in the coordinator dir', async () => {
    expect(coord.generationMark(COSIGNER_ID)).toBe(2);
    const c = client(2n);
    await c.waitConnected(5_000);
    await c.reportGeneration(3n);
    await c.reportGeneration(7n);
    expect(coord.generationMark(COSIGNER_ID)).toBe(7);
    expect(JSON.parse(readFileSync(path.join(dir, 'generation-marks.json'), 'utf8'))[COSIGNER_ID].generation).toBe(7);
    expect((await rest(`/v1/cosigners/${COSIGNER_ID}/generation`)).json).toEqual({ cosignerId: COSIGNER_ID, generation: 7 });
    await c.stop();
  });

  it('a co-signer that reconnects with an older generation is refused with ERR_ROLLBACK and stops', async () => {
    const c = client(4n);
    await expect(c.waitConnected(5_000)).rejects.toMatchObject({ code: 'ERR_ROLLBACK' });
    const refusal = c.refusal();
    expect(refusal?.code).toBe('ERR_ROLLBACK');
    expect(refusal?.message).toMatch(/older than one this co-signer already used/);
    expect(refusal?.message).toMatch(/restore the newest backup/);
    expect(refusal?.message).toMatch(/acknowledged .* at the coordinator/);
    expect(c.state()).toBe('unavailable');
    // Stopped for good: no pairing, no signing, and the coordinator has no connection to route to.
    await expect(c.waitConnected(100)).rejects.toMatchObject({ code: 'ERR_ROLLBACK' });
    expect(coord.connectedCosigners()).toBe(0);
    expect(coord.generationMark(COSIGNER_ID)).toBe(7); // a lower claim never lowers the mark
  });

  it('the same or a higher generation is accepted (and a higher one raises the mark)', async () => {
    const same = client(7n);
    await same.waitConnected(5_000);
    expect(same.refusal()).toBeUndefined();
    await same.stop();
    const higher = client(9n);
    await higher.waitConnected(5_000);
    expect(coord.generationMark(COSIGNER_ID)).toBe(9);
    await higher.stop();
  });

  it('the mark survives a coordinator restart', async () => {
    await coord.close();
    coord = await startCoordinator({ dir, tls: serverTls, attestation: att.policy });
    expect(coord.generationMark(COSIGNER_ID)).toBe(9);
    const c = client(8n);
    await expect(c.waitConnected(5_000)).rejects.toMatchObject({ code: 'ERR_ROLLBACK' });
  });

  it('the owner acknowledgement at the coordinator lets a deliberately restored older generation in', async () => {
    expect((await rest(`/v1/cosigners/${COSIGNER_ID}/generation`, 'POST', { generation: -1 })).status).toBe(400);
    expect((await rest('/v1/cosigners/nobody/generation', 'POST', { generation: 1 })).status).toBe(404);
    const ack = await rest(`/v1/cosigners/${COSIGNER_ID}/generation`, 'POST', { generation: 4 });
    expect(ack).toEqual({ status: 200, json: { cosignerId: COSIGNER_ID, generation: 4 } });
    const c = client(4n);
    await c.waitConnected(5_000);
    expect(c.refusal()).toBeUndefined();
    expect(coord.generationMark(COSIGNER_ID)).toBe(4);
    await c.stop();
  });

  it('rejects a forged generation report and leaves the mark unchanged', async () => {
    const before = coord.generationMark(COSIGNER_ID);
    const { framed, channel } = await rawSession(before ?? 0);
    const closed = new Promise<{ code: string }>((resolve) => framed.onClose(resolve));
    const env = channel.seal('state.generation', randomUUID(), { generation: 5 });
    // Altered in transit (e.g. by the parent): the signature no longer covers the body.
    framed.write({ ...env, body: JSON.stringify({ generation: 1_000_000 }) });
    expect((await closed).code).toBe('ERR_CONNECTION_CLOSED');
    expect(coord.generationMark(COSIGNER_ID)).toBe(before);
  });

  it('another key cannot plant or raise a mark for this co-signer id, nor an unpaired co-signer for itself', async () => {
    const other = generateKeyPairSync('ed25519');
    const otherId = { cosignerId: COSIGNER_ID, coordinatorAuthKeyPkcs8: other.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
    const impostor = client(1_000n, otherId);
    // The restarted coordinator remembers the pairing (its state is on disk) and refuses the other key
    // at the handshake; were it let in, the mark is bound to the paired key anyway. Either way: no change.
    const connected = await impostor.waitConnected(5_000).then(() => true, () => false);
    if (connected) await impostor.reportGeneration(2_000n);
    expect(coord.generationMark(COSIGNER_ID)).toBe(4);
    await impostor.stop();

    const stranger = client(50n, { ...otherId, cosignerId: 'cosigner-unpaired' });
    const conn = await stranger.waitConnected(5_000);
    await expect(conn.request('state.generation', { generation: 51 })).rejects.toMatchObject({ code: 'ERR_PERMISSION_DENIED' });
    expect(coord.generationMark('cosigner-unpaired')).toBeUndefined();
    await stranger.stop();
  });

  it('a welcome without the mark (or with a malformed one) fails closed when hello stated a generation', async () => {
    const coordKey = generateKeyPairSync('ed25519');
    for (const extra of [{}, { generation: -1 }, { generation: '9' }]) {
      const server = net.createServer((sock) => {
        const f = new FramedSocket(sock);
        void f.next(5_000).then((hello) => {
          const h = JSON.parse(parseEnvelope(hello).body) as { clientNonce: string; generation: number };
          expect(h.generation).toBe(3);
          const serverNonce = 'ab'.repeat(32);
          const conn = createHash('sha256').update(h.clientNonce + serverNonce, 'utf8').digest('hex').slice(0, 32);
          f.write(sealEnvelope(coordKey.privateKey, { dir: 's2c', conn, seq: 0, type: 'welcome', id: serverNonce.slice(0, 32), body: JSON.stringify({ clientNonce: h.clientNonce, serverNonce, ...extra }) }));
        }, () => undefined);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const sock = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
      const framed = new FramedSocket(sock);
      try {
        await expect(clientHandshake(framed, { authKey: kp.privateKey, authPublicKey: kp.publicKey, cosignerId: COSIGNER_ID, coordinatorKey: coordKey.publicKey, timeoutMs: 5_000, generation: 3 })).rejects.toMatchObject({ code: 'ERR_COORDINATOR_AUTH' });
      } finally {
        sock.destroy();
        await new Promise((r) => server.close(r));
      }
    }
  });
});
