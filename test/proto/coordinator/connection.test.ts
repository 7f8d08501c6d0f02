// PeerConnection bounds and failure handling over a loopback socket pair.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FramedSocket, PeerConnection, type RequestHandler } from '../../../proto/coordinator/connection.ts';
import { AuthChannel } from '../../../proto/coordinator/envelope.ts';
import { encodeFrame } from '../../../proto/coordinator/framing.ts';

const a = generateKeyPairSync('ed25519');
const b = generateKeyPairSync('ed25519');
const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const s = await accepted;
  server.close();
  closers.push(() => (client.destroy(), s.destroy()));
  return [client, s];
}

async function pair(serverHandler: RequestHandler, opts: { maxInflight?: number; requestTimeoutMs?: number } = {}) {
  const [cs, ss] = await socketPair();
  const client = new PeerConnection({ framed: new FramedSocket(cs), channel: new AuthChannel(a.privateKey, b.publicKey, 'c2s', 'k'), handler: async () => ({}), ...opts });
  const serverFramed = new FramedSocket(ss);
  const server = new PeerConnection({ framed: serverFramed, channel: new AuthChannel(b.privateKey, a.publicKey, 's2c', 'k'), handler: serverHandler, ...opts });
  return { client, server, cs, ss };
}

describe('PeerConnection', () => {
  it('answers requests and reports peer errors with their code', async () => {
    const { client } = await pair(async (type) => {
      if (type === 'ping') return { pong: true };
      throw Object.assign(new Error('x'), {});
    });
    await expect(client.request('ping', {})).resolves.toEqual({ pong: true });
    await expect(client.request('other', {})).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
  });

  it('bounds requests in flight (ERR_BUSY) and time per request (ERR_TIMEOUT)', async () => {
    const { client } = await pair(() => new Promise(() => undefined), { maxInflight: 2, requestTimeoutMs: 300 });
    const slow = [client.request('hang', {}), client.request('hang', {})];
    await expect(client.request('hang', {})).rejects.toMatchObject({ code: 'ERR_BUSY' });
    await expect(slow[0]).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await expect(slow[1]).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    // the peer's slots stay taken until its handlers finish: still busy
    await expect(client.request('x', {})).rejects.toMatchObject({ code: 'ERR_BUSY' });
    const other = await pair(() => new Promise(() => undefined));
    await expect(other.client.request('x', {}, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });

  it('a forged envelope ends the connection and fails what was pending', async () => {
    const { client, ss } = await pair(() => new Promise(() => undefined));
    const pending = client.request('hang', {});
    const forger = new AuthChannel(generateKeyPairSync('ed25519').privateKey, a.publicKey, 's2c', 'k');
    ss.write(encodeFrame(forger.seal('ping', 'f1', {})));
    await expect(pending).rejects.toMatchObject({ code: 'ERR_COORDINATOR_AUTH' });
    expect(client.closed).toBe(true);
  });

  it('an oversized frame header ends the connection', async () => {
    const { client, ss } = await pair(async () => ({}));
    const pending = client.request('ping', {}, { timeoutMs: 5000 });
    ss.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await expect(pending).rejects.toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
  });
});
