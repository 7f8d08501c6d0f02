// enclave/main.ts in process: flags, the wire listener, the Control service over a real Peer, error
// codes across the wire, and one parent at a time.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnclave, type RunningEnclave } from '../../../enclave/main.ts';
import { Peer } from '../../../proto/runtime/peer.ts';
import { serveEnclavePorts } from '../../../parent/wire/serve-ports.ts';
import { MemoryBlobStore } from '../../../parent/storage/memory-blob-store.ts';
import { FakeBackends, SETUP } from './fakes.ts';

describe('enclave main over the wire', () => {
  let dir: string;
  let enclave: RunningEnclave;
  const logs: string[] = [];

  async function parent(): Promise<Peer> {
    const peer = await Peer.connect(`unix://${join(dir, 'e.sock')}`, { role: 'parent', buildId: 'test-parent', keepaliveMs: 0 });
    serveEnclavePorts(peer, {
      blobs: new MemoryBlobStore(),
      credentials: { get: async () => ({ accessKeyId: 'AKIA', secretAccessKey: 'secret' }) },
      relay: async () => {
        throw new Error('no egress in this test');
      },
      onLog: (l) => void logs.push(l),
    });
    return peer;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cosigner-main-'));
    enclave = await startEnclave(['--listen', `unix://${join(dir, 'e.sock')}`, '--dev-ca', join(dir, 'dev-ca'), '--local'], {
      backends: () => new FakeBackends(),
      bundleBytes: new TextEncoder().encode('test bundle'),
    });
  }, 30_000);
  afterAll(async () => {
    await enclave?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a bad command line before listening', async () => {
    await expect(startEnclave(['--listen', 'unix:///tmp/x.sock'])).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(startEnclave(['--listen', 'unix:///tmp/x.sock', '--dev-ca', '/tmp/d', '--tls-ca', '/tmp/ca.pem'])).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it('serves Control: boot on connect, typed errors across the wire, setup', async () => {
    const p = await parent();
    try {
      const control = p.client('cosigner.v1.Control');
      let status = await control.Status({});
      for (let i = 0; i < 50 && status.state === 'starting'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        status = await control.Status({});
      }
      expect(status).toMatchObject({ state: 'not-set-up', attestationMode: 'dev', localMode: true, buildId: 'nitro-cosigner-unbundled' });
      await expect(control.ListUsers({})).rejects.toMatchObject({ code: 'ERR_NOT_SET_UP' });
      await expect(control.Setup({ ...SETUP, kmsKeyArn: 'nope' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      const r = await control.Setup({ ...SETUP, pairingToken: 'tokenA' });
      expect(r.status.state).toBe('unsealed');
      expect(r.user.id).toBe('user-tokenA');
      await expect(control.AddUser({ pairingToken: 'tokenA' })).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS' });
      const att = await control.GetAttestation({ nonce: new Uint8Array(8) });
      expect(att.document[0]).toBe(0x84); // untagged COSE_Sign1 from the development authority
      expect(att.userData.length).toBeGreaterThan(0); // the (fake) identity binding is carried
      await expect(control.GetAttestation({ nonce: new Uint8Array(600) })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    } finally {
      await p.close();
    }
  });

  it('one parent at a time: a second connection is refused while the first lives, the next one after it is served', async () => {
    const a = await parent();
    await expect(parent()).rejects.toMatchObject({ code: 'ERR_LINK_BUSY' });
    expect((await a.client('cosigner.v1.Control').Status({})).state).toBe('unsealed');
    await a.close();
    // As the parent daemon does after a restart: redial until the enclave has seen the old link go.
    let b: Peer | undefined;
    for (let i = 0; i < 100 && !b; i++) {
      b = await parent().catch(async () => {
        await new Promise((r) => setTimeout(r, 20));
        return undefined;
      });
    }
    const st = await b!.client('cosigner.v1.Control').Status({});
    expect(st.state).toBe('unsealed');
    expect(st.users).toBe(1);
    await b!.close();
    expect(logs.some((l) => l.includes('parent connected'))).toBe(true);
  });
});
