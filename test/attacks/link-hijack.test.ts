// A local process on the parent (AF_VSOCK has no permissions) tries to take over the enclave's link
// while the parent daemon's connection lives. It must be refused, typed, and get no service.
import { afterEach, describe, expect, it } from 'vitest';
import type { Peer } from '../../proto/runtime/peer.ts';
import { connectParent, connectParentEventually, goawayCode, parentHandshake, rawConnect, startEnclaveListener, statusRequest, until, type Enclave } from './helpers.ts';

let enclave: Enclave | null = null;
const parents: Peer[] = [];
afterEach(async () => {
  for (const p of parents.splice(0)) await p.close();
  await enclave?.close();
  enclave = null;
});

describe('link hijack', () => {
  it('refuses a second handshaking client while the first lives, answering none of its calls', async () => {
    enclave = await startEnclaveListener();
    const parent = await connectParent(enclave.url);
    parents.push(parent);
    const control = parent.client('cosigner.v1.Control');
    expect(await control.Status({})).toMatchObject({ state: 'unsealed' });
    const servedBefore = enclave.served;

    const attacker = await rawConnect(enclave.path);
    attacker.sock.write(Buffer.concat([parentHandshake(), statusRequest(1), statusRequest(3)]));
    await attacker.closed;
    expect(goawayCode(attacker.frames)).toBe('ERR_LINK_BUSY');
    expect(attacker.frames.map((f) => f.kind)).toEqual(['goaway']); // not even the enclave's handshake
    expect(enclave.served).toBe(servedBefore);
    expect(enclave.listener.stats()).toMatchObject({ active: true, pending: 0, refusedBusy: 1 });

    // A real Peer gets the typed reason from Peer.connect.
    await expect(connectParent(enclave.url)).rejects.toMatchObject({ code: 'ERR_LINK_BUSY' });
    // The legitimate link is untouched.
    expect(parent.isClosed).toBe(false);
    expect(await control.Status({})).toMatchObject({ state: 'unsealed' });
  });

  it('refuses a client that finishes its handshake after the parent won the race, before serving it', async () => {
    enclave = await startEnclaveListener();
    // The attacker connects first and sits in the handshake; the parent connects and completes.
    const attacker = await rawConnect(enclave.path);
    await until('the attacker to be pending', () => enclave!.listener.stats().pending === 1);
    const parent = await connectParent(enclave.url);
    parents.push(parent);
    attacker.sock.write(Buffer.concat([parentHandshake(), statusRequest(1)]));
    await attacker.closed;
    expect(goawayCode(attacker.frames)).toBe('ERR_LINK_BUSY');
    expect(attacker.frames.some((f) => f.kind === 'response')).toBe(false);
    expect(enclave.served).toBe(0);
    expect(await parent.client('cosigner.v1.Control').Status({})).toMatchObject({ state: 'unsealed' });
    expect(enclave.served).toBe(1);
  });

  it('accepts a new connection once the first is gone (the daemon restarting)', async () => {
    enclave = await startEnclaveListener();
    const first = await connectParent(enclave.url);
    await first.close();
    const second = await connectParentEventually(enclave.url);
    parents.push(second);
    expect(await second.client('cosigner.v1.Control').Status({})).toMatchObject({ state: 'unsealed' });

    // A link that dies without a goodbye (the daemon killed) frees the slot too.
    (second as unknown as { socket: { destroy(): void } }).socket.destroy();
    const third = await connectParentEventually(enclave.url);
    parents.push(third);
    expect(await third.client('cosigner.v1.Control').Status({})).toMatchObject({ state: 'unsealed' });
    expect(enclave.listener.stats().active).toBe(true);
  });

  it('frees the link when the active connection goes silent past the keepalive timeout', async () => {
    enclave = await startEnclaveListener({ keepaliveMs: 30, keepaliveTimeoutMs: 90 });
    const squatter = await rawConnect(enclave.path);
    squatter.sock.write(parentHandshake()); // then never answers a ping
    await until('the squatter to hold the link', () => enclave!.listener.stats().active);
    await expect(connectParent(enclave.url)).rejects.toMatchObject({ code: 'ERR_LINK_BUSY' });
    await squatter.closed;
    const parent = await connectParentEventually(enclave.url);
    parents.push(parent);
    expect(await parent.client('cosigner.v1.Control').Status({})).toMatchObject({ state: 'unsealed' });
  });
});
