// Two processes: this one plays the parent (wire client, blob store, relay), a forked child plays
// the enclave. Transport: a unix socket by default; COSIGNER_TEST_TRANSPORT=vsock://CID:PORT runs
// the same suite over vsock (see docs/wire.md) — never set it on machines without an enclave host.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { Peer } from '../../../proto/runtime/peer.ts';
import { parseTransportUrl } from '../../../proto/transport/url.ts';
import { serveEnclavePorts } from '../../../parent/wire/serve-ports.ts';
import { createRelay, parseAllowList } from '../../../parent/relay/index.ts';
import type { BlobStore, StoredBlob } from '../../../proto/ports.ts';
import { createEphemeralCa } from '../../../local/local-ca.ts';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wire-itest-'));
const transport = process.env.COSIGNER_TEST_TRANSPORT;

function urls(): { listen: string; dial: string } {
  if (!transport) {
    const u = `unix://${join(dir, 'enclave.sock')}`;
    return { listen: u, dial: u };
  }
  const a = parseTransportUrl(transport);
  // vsock: the child binds any CID on the port, the parent dials the given CID.
  return a.kind === 'vsock' ? { listen: `vsock://4294967295:${a.port}`, dial: transport } : { listen: transport, dial: transport };
}

let child: ChildProcess;
let parent: Peer;
let tls: https.Server;
let tlsPort = 0;
let caPem = '';
let otherCaPem = '';
const logs: string[] = [];
const results: Array<(m: any) => void> = [];

function ask(cmd: Record<string, unknown>): Promise<any> {
  return new Promise((resolve) => {
    results.push(resolve);
    child.send(cmd);
  });
}

function memoryBlobs(): BlobStore {
  const m = new Map<string, StoredBlob>();
  return {
    get: async (n) => m.get(n) ?? null,
    put: async (n, d, g) => {
      const cur = m.get(n)?.generation ?? 0n;
      if (cur !== g) throw new CosignerError('ERR_GENERATION_CONFLICT', 'conflict');
      m.set(n, { data: d, generation: cur + 1n });
      return cur + 1n;
    },
  };
}

beforeAll(async () => {
  const ca = await createEphemeralCa('wire itest CA');
  caPem = ca.certPem;
  otherCaPem = (await createEphemeralCa('unrelated CA')).certPem;
  const leaf = await ca.issueServerCert(['localhost', '127.0.0.1']);
  tls = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => res.end(`hello over ${req.url}`));
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', () => r()));
  tlsPort = (tls.address() as AddressInfo).port;

  const u = urls();
  child = fork(join(here, 'enclave-child.ts'), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, WIRE_LISTEN_URL: u.listen }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const peerSeen = new Promise<void>((resolve, reject) => {
    child.on('message', (m: any) => {
      if (m.type === 'peer') resolve();
      if (m.type === 'result') results.shift()?.(m);
    });
    child.once('exit', (code) => reject(new Error(`enclave child exited with ${code}`)));
  });
  await new Promise<void>((resolve) => child.on('message', (m: any) => m.type === 'listening' && resolve()));
  parent = await Peer.connect(u.dial, { role: 'parent', buildId: 'itest-build', requireSameBuild: true, keepaliveMs: 1000 });
  serveEnclavePorts(parent, {
    blobs: memoryBlobs(),
    credentials: { get: async () => ({ accessKeyId: 'AKIAITEST', secretAccessKey: 'not-a-real-secret' }) },
    relay: createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port: tlsPort }] })),
    onLog: (l) => logs.push(l),
  });
  await peerSeen;
}, 30_000);

afterAll(async () => {
  if (child?.connected) {
    const gone = new Promise((r) => child.once('exit', r));
    child.send({ type: 'exit' });
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
  }
  if (child && child.exitCode === null) child.kill();
  await parent?.close();
  tls?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('wire between two processes', () => {
  it('parent → enclave RPC', async () => {
    expect(parent.remoteBuildId).toBe('itest-build');
    expect(await parent.client('cosigner.v1.Enclave').Health({})).toEqual({ buildId: 'itest-build', state: 'ready', protocolVersion: 1 });
  });

  it('enclave → parent RPCs: blobs, credentials, logs', async () => {
    const r = await ask({ type: 'blobs' });
    expect(r).toMatchObject({ ok: true, value: { g1: '1', data: [9, 8, 7], gen: '1', key: 'AKIAITEST' } });
    for (let i = 0; i < 50 && logs.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    expect(logs.some((l) => l.includes('hello from the enclave'))).toBe(true);
  });

  it('HTTPS from the enclave through the relay, certificate verified in the enclave', async () => {
    const r = await ask({ type: 'https', host: '127.0.0.1', port: tlsPort, ca: caPem, path: '/kms' });
    expect(r).toMatchObject({ ok: true, value: { status: 200, body: 'hello over /kms', authorized: true } });
  });

  it('the enclave refuses a server its CA did not issue (TLS terminates in the enclave)', async () => {
    const r = await ask({ type: 'https', host: '127.0.0.1', port: tlsPort, ca: otherCaPem, path: '/' });
    // The enclave's production agent (KMS's) reports a typed code, with Node's reason in the message.
    expect(r).toMatchObject({ ok: false, code: 'ERR_KMS_UNAVAILABLE', message: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/) });
  });

  it('allow-list denial reaches the enclave as ERR_EGRESS_DENIED', async () => {
    const r = await ask({ type: 'https', host: '127.0.0.1', port: tlsPort + 1, ca: caPem, path: '/' });
    expect(r).toMatchObject({ ok: false, code: 'ERR_EGRESS_DENIED' });
    const r2 = await ask({ type: 'https', host: 'kms.us-east-1.amazonaws.com', port: 443, ca: caPem, path: '/' });
    expect(r2).toMatchObject({ ok: false, code: 'ERR_EGRESS_DENIED' });
  });
});
