// AF_VSOCK: create, bind and listen only. Never connect() and never send to a CID on these machines.
import { describe, expect, it } from 'vitest';
import { listenTransport } from '../../../proto/transport/index.ts';
import { VMADDR_CID_ANY, VMADDR_PORT_ANY, listenVsock, loadBinding, vsockUnavailableReason } from '../../../proto/transport/vsock/index.ts';

const reason = vsockUnavailableReason();
if (reason) console.warn(`vsock tests skipped: ${reason} (build the addon with make native; the kernel needs vsock support)`);

describe.skipIf(reason !== null)('vsock binding', () => {
  it('creates, binds and listens on AF_VSOCK with a kernel-chosen port', async () => {
    const { server, port } = await listenVsock(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(VMADDR_PORT_ANY);
    expect(server.listening).toBe(true);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('listens through the transport URL and reports the bound port', async () => {
    const l = await listenTransport(`vsock://${VMADDR_CID_ANY}:${VMADDR_PORT_ANY}`, () => undefined);
    expect(l.address).toMatch(/^vsock:\/\/4294967295:\d+$/);
    await l.close();
  });

  it('reports a port already in use with a typed error', async () => {
    const first = await listenVsock(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    await expect(listenVsock(VMADDR_CID_ANY, first.port)).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE', details: { errno: 'EADDRINUSE' } });
    await new Promise<void>((r) => first.server.close(() => r()));
  });

  it('validates arguments in the native layer', () => {
    const b = loadBinding();
    // Wrong types and out-of-range numbers are refused before any socket is created.
    expect(() => b.listen(-1, VMADDR_PORT_ANY, 1)).toThrow();
    expect(() => b.listen(1.5, VMADDR_PORT_ANY, 1)).toThrow();
    expect(() => b.listen('1' as unknown as number, VMADDR_PORT_ANY, 1)).toThrow();
    expect(() => b.close(-5)).toThrow();
  });
});

describe('vsock availability', () => {
  it('says why when vsock cannot be used, or nothing when it can', () => {
    expect(reason === null || reason.length > 0).toBe(true);
  });
});
