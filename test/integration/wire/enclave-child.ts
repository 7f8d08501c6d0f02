// Integration helper, enclave side: a separate process that listens on the wire and does what the
// test (over the fork IPC channel, which stands in for nothing in production) asks it to do through
// its wire ports: RPCs to the parent and HTTPS through the parent's relay, TLS verified here.
import https from 'node:https';
import { CosignerError } from '../../../proto/errors.ts';
import { Peer } from '../../../proto/runtime/peer.ts';
import { createWirePorts } from '../../../enclave/wire/ports.ts';
import { DialAgent } from '../../../enclave/kms/dial-agent.ts';
import type { EnclavePorts } from '../../../proto/ports.ts';

type Command =
  | { type: 'https'; host: string; port: number; ca: string; path: string }
  | { type: 'blobs' }
  | { type: 'exit' };

let ports: EnclavePorts | null = null;
const send = (m: unknown): void => void process.send!(m);

const listener = await Peer.listen(process.env.WIRE_LISTEN_URL!, { role: 'enclave', buildId: 'itest-build', keepaliveMs: 1000 }, (peer) => {
  peer.register('cosigner.v1.Enclave', { Health: async () => ({ buildId: 'itest-build', state: 'ready', protocolVersion: 1 }) });
  ports = createWirePorts(peer);
  send({ type: 'peer' });
});
send({ type: 'listening', address: listener.address, pid: process.pid });

function httpsGet(c: Extract<Command, { type: 'https' }>): Promise<{ status: number; body: string; authorized: boolean }> {
  // The production agent (KMS uses it): tunnel through the parent, TLS verified here.
  const agent = new DialAgent({ dial: ports!.dial, caPem: c.ca });
  return new Promise((resolve, reject) => {
    const req = https.get({ host: c.host, port: c.port, path: c.path, agent, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      // Read now: a keep-alive agent detaches the socket once the body has been read.
      const authorized = (res.socket as import('node:tls').TLSSocket).authorized;
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), authorized }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new CosignerError('ERR_TIMEOUT', 'https timeout')));
  }).finally(() => agent.destroy()) as Promise<{ status: number; body: string; authorized: boolean }>;
}

process.on('message', (m: Command) => {
  void (async () => {
    try {
      if (m.type === 'exit') {
        await listener.close();
        process.exit(0);
      }
      if (!ports) throw new CosignerError('ERR_STATE', 'no parent connected');
      if (m.type === 'https') send({ type: 'result', ok: true, value: await httpsGet(m) });
      if (m.type === 'blobs') {
        const g1 = await ports.blobs.put('itest.blob', new Uint8Array([9, 8, 7]), 0n);
        const got = await ports.blobs.get('itest.blob');
        const creds = await ports.credentials.get();
        ports.logs.write(JSON.stringify({ level: 30, msg: 'hello from the enclave' }));
        send({ type: 'result', ok: true, value: { g1: String(g1), data: [...(got?.data ?? [])], gen: String(got?.generation), key: creds.accessKeyId } });
      }
    } catch (err) {
      const e = err as { code?: string; message?: string };
      send({ type: 'result', ok: false, code: e.code ?? 'unknown', message: e.message ?? String(err) });
    }
  })();
});
