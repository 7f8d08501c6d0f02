// A local process on the parent opens many connections that never finish the handshake, each
// sending a large partial frame. Before the fix, 600 of them held ~1 MiB each in the enclave. The
// listener must hold few of them, few bytes each, drop them at the handshake deadline, and keep
// working for the legitimate parent.
import { afterEach, describe, expect, it } from 'vitest';
import { HANDSHAKE_MAX_FRAME_BYTES } from '../../proto/runtime/framing.ts';
import { DEFAULT_MAX_PENDING } from '../../proto/runtime/link-listener.ts';
import type { Peer } from '../../proto/runtime/peer.ts';
import { connectParent, connectParentEventually, goawayCode, rawConnect, startEnclaveListener, until, type Enclave, type RawClient } from './helpers.ts';

const FLOOD = 64;
/** Most a connection in the handshake may make the enclave hold: one handshake-sized frame. */
const PER_CONNECTION = HANDSHAKE_MAX_FRAME_BYTES + 4;

let enclave: Enclave | null = null;
const clients: RawClient[] = [];
const parents: Peer[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.sock.destroy();
  for (const p of parents.splice(0)) await p.close();
  await enclave?.close();
  enclave = null;
});

/** A length prefix of `len` followed by `body` bytes of a frame that never completes. */
function partialFrame(len: number, body: number): Buffer {
  const b = Buffer.alloc(4 + body, 0x41);
  b.writeUInt32BE(len, 0);
  return b;
}

/** Opens FLOOD connections, each writing `bytes`, sampling the listener's counters as it goes. */
async function flood(e: Enclave, bytes: Buffer): Promise<{ maxPending: number; maxBytes: number }> {
  let maxPending = 0;
  let maxBytes = 0;
  const sample = (): void => {
    const s = e.listener.stats();
    maxPending = Math.max(maxPending, s.pending);
    maxBytes = Math.max(maxBytes, s.pendingBytes);
  };
  for (let i = 0; i < FLOOD; i++) {
    const c = await rawConnect(e.path);
    clients.push(c);
    c.sock.write(bytes);
    sample();
  }
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 5));
    sample();
  }
  return { maxPending, maxBytes };
}

describe('pre-handshake flood', () => {
  it('drops a first frame larger than a handshake at once, before buffering its body', async () => {
    enclave = await startEnclaveListener();
    // 1 MiB − 1 is within the normal frame limit: only the first-frame limit stops it.
    const seen = await flood(enclave, partialFrame((1 << 20) - 1, 256 * 1024));
    expect(seen.maxPending).toBeLessThanOrEqual(DEFAULT_MAX_PENDING);
    expect(seen.maxBytes).toBeLessThanOrEqual(DEFAULT_MAX_PENDING * PER_CONNECTION);
    await Promise.all(clients.map((c) => c.closed));
    const codes = new Set(clients.map((c) => goawayCode(c.frames)));
    for (const code of codes) expect(['ERR_FRAME_TOO_LARGE', 'ERR_BUSY']).toContain(code);
    expect(enclave.listener.stats()).toMatchObject({ pending: 0, pendingBytes: 0, active: false });

    const parent = await connectParentEventually(enclave.url);
    parents.push(parent);
    expect(await parent.client('cosigner.v1.Control').Status({})).toMatchObject({ state: 'unsealed' });
  });

  it('holds at most maxPending partial handshakes, closes the excess at once, and the rest at the deadline', async () => {
    enclave = await startEnclaveListener({ handshakeTimeoutMs: 400 });
    const seen = await flood(enclave, partialFrame(HANDSHAKE_MAX_FRAME_BYTES, HANDSHAKE_MAX_FRAME_BYTES - 100));
    expect(seen.maxPending).toBe(DEFAULT_MAX_PENDING);
    expect(seen.maxBytes).toBeGreaterThan(0);
    expect(seen.maxBytes).toBeLessThanOrEqual(DEFAULT_MAX_PENDING * PER_CONNECTION);
    // Everything past the first maxPending was refused without being read.
    expect(enclave.listener.stats().refusedPending).toBe(FLOOD - DEFAULT_MAX_PENDING);
    await until('the excess to be closed', () => clients.filter((c) => c.isClosed()).length >= FLOOD - DEFAULT_MAX_PENDING, 1000);
    for (const c of clients.slice(DEFAULT_MAX_PENDING)) expect(goawayCode(c.frames)).toBe('ERR_BUSY');

    // The handshake deadline frees the slots; then the legitimate parent gets in and is served.
    await Promise.all(clients.map((c) => c.closed));
    for (const c of clients.slice(0, DEFAULT_MAX_PENDING)) expect(goawayCode(c.frames)).toBe('ERR_TIMEOUT');
    expect(enclave.listener.stats()).toMatchObject({ pending: 0, pendingBytes: 0 });
    const parent = await connectParent(enclave.url);
    parents.push(parent);
    expect(await parent.client('cosigner.v1.Control').Status({})).toMatchObject({ state: 'unsealed' });
  });

  it('a flood while the parent is connected is refused unread and does not disturb the link', async () => {
    enclave = await startEnclaveListener();
    const parent = await connectParent(enclave.url);
    parents.push(parent);
    const seen = await flood(enclave, partialFrame((1 << 20) - 1, 256 * 1024));
    expect(seen).toEqual({ maxPending: 0, maxBytes: 0 });
    expect(enclave.listener.stats().refusedBusy).toBe(FLOOD);
    await Promise.all(clients.map((c) => c.closed));
    expect(clients.every((c) => goawayCode(c.frames) === 'ERR_LINK_BUSY')).toBe(true);
    expect(await parent.client('cosigner.v1.Control').Status({})).toMatchObject({ state: 'unsealed' });
  });
});
