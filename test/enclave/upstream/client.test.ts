// The coordinator client against a scripted coordinator (same handshake and envelope code as the
// reference coordinator): pinning, TLS trust, reconnect with backoff, idempotency, restart.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FrostSigningSession, messageDigest, type WireCommitment } from '../../../enclave/mpc/signing-session.ts';
import { CosignerError } from '../../../proto/errors.ts';
import type { Clock } from '../../../proto/ports.ts';
import { approvalDigest, CoordinatorClient } from '../../../enclave/upstream/client.ts';
import { canonicalDigest, verifyApproval } from '../../../proto/coordinator/approval-signature.ts';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { FramedSocket, PeerConnection } from '../../../proto/coordinator/connection.ts';
import { serverHandshake } from '../../../proto/coordinator/handshake.ts';
import { memoryUserStore } from '../../../enclave/upstream/user-store.ts';
import type { ApiUserRecord, KeyShareRecord } from '../../../enclave/vault/records.ts';
import { createEphemeralCa, selfSignedCert, type IssuedCert } from '../../../local/local-ca.ts';
import { runDkg } from '../mpc/helpers.ts';
import { pairingSummary } from '../../../enclave/upstream/pairing-summary.ts';
import { signOwnerApproval } from '../../../proto/coordinator/owner-approval.ts';

interface Scripted {
  url: string;
  publicKeyPem: string;
  connections: PeerConnection[];
  accepted: number;
  next(): Promise<PeerConnection>;
  close(): Promise<void>;
}

async function scriptedCoordinator(cert: IssuedCert, key = generateKeyPairSync('ed25519')): Promise<Scripted> {
  const waiters: ((c: PeerConnection) => void)[] = [];
  const sockets = new Set<net.Socket>();
  const s: Scripted = {
    url: '',
    publicKeyPem: key.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    connections: [],
    accepted: 0,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    close: async () => {
      for (const so of sockets) so.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  const accept = async (socket: tls.TLSSocket): Promise<void> => {
    const framed = new FramedSocket(socket);
    try {
      const hs = await serverHandshake(framed, { key: key.privateKey, authorize: () => undefined, timeoutMs: 5000 });
      // Like the reference coordinator, nothing is routed to the link before the co-signer's
      // `attest` (accepted here without checking: attestation has its own tests).
      const conn: PeerConnection = new PeerConnection({
        framed,
        channel: hs.channel,
        handler: async (type) => {
          if (type === 'attest') setImmediate(() => waiters.shift()?.(conn));
          return {};
        },
      });
      s.connections.push(conn);
    } catch {
      framed.fail(new CosignerError('ERR_COORDINATOR_AUTH', 'x'));
    }
  };
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    s.accepted++;
    // accept() catches every failure of the handshake and fails the socket with it, so it never rejects.
    void accept(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.url = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return s;
}

function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return { sleeps, now: () => Date.now(), sleep: async (ms, signal) => (signal?.throwIfAborted(), void sleeps.push(ms)) };
}

const identity = (() => {
  const kp = generateKeyPairSync('ed25519');
  return { cosignerId: 'cs-1', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
})();

let ca: Awaited<ReturnType<typeof createEphemeralCa>>;
let keys: KeyShareRecord[];
let user: ApiUserRecord;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ca = await createEphemeralCa('client test CA');
  keys = runDkg('frost-ed25519', 2, [1, 2]);
  const approvalKey = generateKeyPairSync('ed25519').privateKey as KeyObject;
  user = { id: 'alice', workspace: 'ws', createdAt: 1, status: 'active', approvalKeyPkcs8: approvalKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'), keyShares: [keys[0]!] };
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function newClient(coord: { url: string; publicKeyPem: string }, clock: Clock, extra: Partial<ConstructorParameters<typeof CoordinatorClient>[0]> = {}) {
  const c = new CoordinatorClient({
    dial: async (host, port) => net.connect({ host, port }),
    clock,
    identity,
    coordinator: coord,
    tls: { ca: ca.certPem },
    users: memoryUserStore([user]),
    approve: async (_u, req) => ({ approved: true, payloadDigest: approvalDigest(req) }),
    random: () => 0.5,
    // The scripted coordinator answers every request, attest included, with {}.
    attest: async () => new Uint8Array(0),
    ownerPublicKeyPem: undefined,
    ...extra,
  });
  cleanups.push(() => c.stop());
  return c;
}

const message = Buffer.from('hello coordinator');
function commitBody(sessionId: string) {
  const hex = message.toString('hex');
  return { userId: 'alice', signers: [1, 2], transaction: { txId: 'tx-1', asset: 'BTC', amountStr: '1', destAddress: 'd' }, rawTx: [{ sessionId, keyId: keys[0]!.keyId, keyDerivationPath: '[ ]', format: 'raw', rawTx: hex, payload: hex }] };
}
type CommitReply = { sessions: { commitment: WireCommitment }[] };
const commitmentOf = (r: unknown): WireCommitment => (r as CommitReply).sessions[0]!.commitment;

describe('coordinator client', () => {
  it('refuses a coordinator that does not hold the key fixed at setup, and backs off (bounded)', async () => {
    const coord = await scriptedCoordinator(await ca.issueServerCert());
    cleanups.push(() => coord.close());
    const clock = recordingClock();
    const wrongKey = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const c = newClient({ url: coord.url, publicKeyPem: wrongKey }, clock, { maxAttempts: 4, backoff: { initialMs: 100, maxMs: 400 } }).start();
    await expect(c.waitConnected(20_000)).rejects.toMatchObject({ code: 'ERR_COORDINATOR_UNAVAILABLE' });
    expect(coord.accepted).toBe(4);
    expect(clock.sleeps).toEqual([150, 300, 300]); // 100·2^n capped at 400, half-jitter at 0.5
    expect(c.state()).not.toBe('connected');
  });

  it('refuses a coordinator whose TLS certificate does not chain to the configured CA', async () => {
    const coord = await scriptedCoordinator(await selfSignedCert());
    cleanups.push(() => coord.close());
    const c = newClient(coord, recordingClock(), { maxAttempts: 1 }).start();
    await expect(c.waitConnected(20_000)).rejects.toMatchObject({ code: 'ERR_COORDINATOR_UNAVAILABLE' });
    expect(coord.connections).toHaveLength(0);
  });

  it('reconnects after the connection drops; sign.commit is idempotent by request id', async () => {
    const coord = await scriptedCoordinator(await ca.issueServerCert());
    cleanups.push(() => coord.close());
    const first = coord.next();
    const c = newClient(coord, recordingClock()).start();
    const conn = await first;
    const a = { commitment: commitmentOf(await conn.request('sign.commit', commitBody('s-1'), { id: 'req-1' })) };
    expect(c.openSessions()).toBe(1);

    const second = coord.next();
    conn.close('coordinator restarted');
    const conn2 = await second;
    expect(c.openSessions()).toBe(0); // the connection's sessions are gone with it
    // The same request id and body on the new connection gets the same answer (not new nonces)…
    const again = { commitment: commitmentOf(await conn2.request('sign.commit', commitBody('s-1'), { id: 'req-1' })) };
    expect(again.commitment).toEqual(a.commitment);
    // …a different body under the same id is refused,
    await expect(conn2.request('sign.commit', commitBody('s-2'), { id: 'req-1' })).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS' });
    // and the aborted session cannot produce a share.
    const peer = new FrostSigningSession({ sessionId: 's-1', key: keys[1]!, message, signers: [1, 2] });
    await expect(conn2.request('sign.share', { sessionId: 's-1', keyId: keys[0]!.keyId, messageDigest: messageDigest(message), commitments: [a.commitment, peer.commit()] })).rejects.toMatchObject({ code: 'ERR_NONCE_REUSE' });
  });

  it('a restarted co-signer has no open sessions: round 2 after a restart fails closed', async () => {
    const coord = await scriptedCoordinator(await ca.issueServerCert());
    cleanups.push(() => coord.close());
    const first = coord.next();
    const before = newClient(coord, recordingClock()).start();
    const conn = await first;
    const commitment = commitmentOf(await conn.request('sign.commit', commitBody('s-9')));
    await before.stop(); // the enclave restarts
    const second = coord.next();
    newClient(coord, recordingClock()).start();
    const conn2 = await second;
    const peer = new FrostSigningSession({ sessionId: 's-9', key: keys[1]!, message, signers: [1, 2] });
    await expect(conn2.request('sign.share', { sessionId: 's-9', keyId: keys[0]!.keyId, messageDigest: messageDigest(message), commitments: [commitment, peer.commit()] })).rejects.toMatchObject({
      code: 'ERR_SESSION_NOT_FOUND',
    });
  });

  it('signs a full session over the link, refuses unknown users, pending users and unknown request types', async () => {
    const coord = await scriptedCoordinator(await ca.issueServerCert());
    cleanups.push(() => coord.close());
    const first = coord.next();
    newClient(coord, recordingClock()).start();
    const conn = await first;
    const commitment = commitmentOf(await conn.request('sign.commit', commitBody('s-ok')));
    const peer = new FrostSigningSession({ sessionId: 's-ok', key: keys[1]!, message, signers: [1, 2] });
    const list = [commitment, peer.commit()];
    const { signatureShare } = (await conn.request('sign.share', { sessionId: 's-ok', keyId: keys[0]!.keyId, messageDigest: messageDigest(message), commitments: list })) as { signatureShare: string };
    expect(signatureShare).toMatch(/^[0-9a-f]{64}$/);
    await expect(conn.request('sign.commit', { ...commitBody('s-x'), userId: 'nobody' })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(conn.request('sign.commit', { ...commitBody('s-y'), extra: true })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(conn.request('shell.exec', {})).rejects.toMatchObject({ code: 'ERR_UNKNOWN_METHOD' });
  });

  it('refuses to sign for a pending user', async () => {
    const coord = await scriptedCoordinator(await ca.issueServerCert());
    cleanups.push(() => coord.close());
    const first = coord.next();
    const owner = generateKeyPairSync('ed25519');
    const pendingUser = { ...user, status: 'pending' as const };
    newClient(coord, recordingClock(), { users: memoryUserStore([pendingUser]), ownerPublicKeyPem: owner.publicKey.export({ format: 'pem', type: 'spki' }) as string }).start();
    const conn = await first;
    await expect(conn.request('sign.commit', commitBody('s-p'))).rejects.toMatchObject({ code: 'ERR_USER_PENDING' });
    // The owner's signed approval of this pairing (test/attacks/activation.test.ts covers forgeries).
    await expect(conn.request('user.activate', { userId: 'alice' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const expiresAt = Date.now() + 60_000;
    const digest = canonicalDigest(pairingSummary(pendingUser, identity.cosignerId));
    const signature = signOwnerApproval(owner.privateKey, { cosignerId: identity.cosignerId, changeId: 'chg-act', kind: 'user.activate', subjectId: 'alice', digest, expiresAt, decision: 'approve' });
    expect((await conn.request('user.activate', { userId: 'alice', changeId: 'chg-act', expiresAt, signature })) as object).toEqual({ userId: 'alice', status: 'active' });
    await expect(conn.request('sign.commit', commitBody('s-q'))).resolves.toHaveProperty('sessions');
  });

  it('signs its decision on a configuration change with the user approval key', async () => {
    const coord = await scriptedCoordinator(await ca.issueServerCert());
    cleanups.push(() => coord.close());
    const first = coord.next();
    const seen: string[] = [];
    newClient(coord, recordingClock(), {
      approve: async (_u, req) => (seen.push(req.kind), { approved: req.payload?.['maxAmount'] !== '1000000', payloadDigest: approvalDigest(req) }),
    }).start();
    const conn = await first;
    const approvalPub = createPublicKey(createPrivateKey({ key: Buffer.from(user.approvalKeyPkcs8, 'hex'), format: 'der', type: 'pkcs8' }));
    for (const [payload, decision] of [[{ rule: 'limit', maxAmount: '10' }, 'approve'], [{ rule: 'limit', maxAmount: '1000000' }, 'reject']] as const) {
      const r = (await conn.request('approval.request', { userId: 'alice', kind: 'config', subjectId: 'chg-1', payload })) as { decision: string; payloadDigest: string; signature: string };
      expect(r.decision).toBe(decision);
      expect(r.payloadDigest).toBe(canonicalDigest(payload));
      expect(verifyApproval(approvalPub, { kind: 'config', userId: 'alice', subjectId: 'chg-1', payloadDigest: r.payloadDigest, decision }, r.signature)).toBe(true);
      expect(verifyApproval(approvalPub, { kind: 'transaction', userId: 'alice', subjectId: 'chg-1', payloadDigest: r.payloadDigest, decision }, r.signature)).toBe(false);
    }
    expect(seen).toEqual(['config', 'config']);
  });
});
