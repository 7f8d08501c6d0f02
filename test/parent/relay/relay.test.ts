import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from '../../../parent/relay/allow-list.ts';
import { COORDINATOR_MAX_INFLIGHT } from '../../../proto/coordinator/connection.ts';
import { RELAY_MAX_CONNECTIONS, createRelay } from '../../../parent/relay/relay.ts';

let echo: net.Server;
let port = 0;
beforeAll(async () => {
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  port = (echo.address() as net.AddressInfo).port;
});
afterAll(() => echo.close());

describe('egress relay', () => {
  it('connects to an allowed target and relays bytes', async () => {
    const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port }] }));
    const s = await relay('127.0.0.1', port);
    const got = new Promise<string>((r) => s.once('data', (b: Buffer) => r(b.toString())));
    s.write('ping');
    expect(await got).toBe('ping');
    expect(relay.active).toBe(1);
    s.destroy();
    await new Promise((r) => s.once('close', r));
    expect(relay.active).toBe(0);
  });

  it('denies a target not on the list without connecting', async () => {
    let dialled = 0;
    const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port }] }), {
      connect: (h, p) => (dialled++, net.connect({ host: h, port: p })),
    });
    await expect(relay('127.0.0.1', port + 1)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
    await expect(relay('localhost', port)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
    expect(dialled).toBe(0);
  });

  it('reports a failed connection as ERR_EGRESS_FAILED', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port: deadPort }] }));
    await expect(relay('127.0.0.1', deadPort)).rejects.toMatchObject({ code: 'ERR_EGRESS_FAILED' });
    expect(relay.active).toBe(0);
  });

  it('times out a connection that never completes', async () => {
    const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port }] }), {
      connectTimeoutMs: 20,
      connect: () => new net.Socket(), // never connects
    });
    await expect(relay('127.0.0.1', port)).rejects.toMatchObject({ code: 'ERR_EGRESS_FAILED' });
  });

  it('bounds the number of relay connections', async () => {
    const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port }] }), { maxConnections: 2 });
    const a = await relay('127.0.0.1', port);
    const b = await relay('127.0.0.1', port);
    await expect(relay('127.0.0.1', port)).rejects.toMatchObject({ code: 'ERR_BUSY' });
    a.destroy();
    await new Promise((r) => a.once('close', r));
    const c = await relay('127.0.0.1', port);
    b.destroy();
    c.destroy();
  });

  it('covers the enclave\'s in-flight limit: the coordinator link plus one callback per in-flight request all get through', async () => {
    expect(RELAY_MAX_CONNECTIONS).toBeGreaterThan(COORDINATOR_MAX_INFLIGHT);
    const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port }] }));
    // The coordinator link, then one Callback Handler connection per in-flight coordinator request.
    const socks = await Promise.all(Array.from({ length: COORDINATOR_MAX_INFLIGHT + 1 }, () => relay('127.0.0.1', port)));
    expect(relay.active).toBe(COORDINATOR_MAX_INFLIGHT + 1);
    const more = await Promise.all(Array.from({ length: RELAY_MAX_CONNECTIONS - socks.length }, () => relay('127.0.0.1', port)));
    await expect(relay('127.0.0.1', port)).rejects.toMatchObject({ code: 'ERR_BUSY' });
    for (const s of [...socks, ...more]) s.destroy();
  });
});
