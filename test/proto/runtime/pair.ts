// Test helper: a parent and an enclave Peer connected over a unix socket in a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Peer, type PeerOptions } from '../../../proto/runtime/peer.ts';

export interface Pair {
  parent: Peer;
  enclave: Peer;
  url: string;
  close(): Promise<void>;
}

export async function makePair(
  parentOpts: Partial<PeerOptions> = {},
  enclaveOpts: Partial<PeerOptions> = {},
  setupEnclave: (p: Peer) => void = () => undefined,
): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), 'wire-'));
  const url = `unix://${join(dir, 'e.sock')}`;
  let resolveEnclave!: (p: Peer) => void;
  const enclaveReady = new Promise<Peer>((r) => (resolveEnclave = r));
  const listener = await Peer.listen(url, { role: 'enclave', buildId: 'test-build', keepaliveMs: 0, closeGraceMs: 200, ...enclaveOpts }, (p) => {
    setupEnclave(p);
    resolveEnclave(p);
  });
  let parent: Peer;
  try {
    parent = await Peer.connect(url, { role: 'parent', buildId: 'test-build', keepaliveMs: 0, closeGraceMs: 200, ...parentOpts });
  } catch (err) {
    // A refused handshake is what some tests expect: the socket folder must go all the same.
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const enclave = await enclaveReady;
  return {
    parent,
    enclave,
    url,
    async close() {
      await parent.close();
      await listener.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
