import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/temp-dir.ts';
import { dialTransport, listenTransport } from '../../../proto/transport/index.ts';
import { formatTransportUrl, parseTransportUrl } from '../../../proto/transport/url.ts';

describe('transport URLs', () => {
  it('parses the three transports', () => {
    expect(parseTransportUrl('vsock://16:5005')).toEqual({ kind: 'vsock', cid: 16, port: 5005 });
    expect(parseTransportUrl('vsock://4294967295:1')).toEqual({ kind: 'vsock', cid: 4294967295, port: 1 });
    expect(parseTransportUrl('unix:///run/cosigner/wire.sock')).toEqual({ kind: 'unix', path: '/run/cosigner/wire.sock' });
    expect(parseTransportUrl('tcp://127.0.0.1:7000')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7000 });
    expect(parseTransportUrl('tcp://[::1]:0')).toEqual({ kind: 'tcp', host: '::1', port: 0 });
  });

  it('formats back to the same URL', () => {
    for (const u of ['vsock://3:8000', 'unix:///tmp/x.sock', 'tcp://127.0.0.1:1', 'tcp://[::1]:2']) expect(formatTransportUrl(parseTransportUrl(u))).toBe(u);
  });

  it('refuses non-loopback tcp (local use only)', () => {
    for (const u of ['tcp://10.0.0.1:80', 'tcp://0.0.0.0:80', 'tcp://example.com:80', 'tcp://localhost:80', 'tcp://[::]:80', 'tcp://[fe80::1]:80']) {
      expect(() => parseTransportUrl(u), u).toThrow(expect.objectContaining({ code: 'ERR_TRANSPORT_URL' }));
    }
  });

  it('refuses malformed URLs', () => {
    for (const u of ['', 'vsock://', 'vsock://1', 'vsock://-1:2', 'vsock://1:4294967296', 'vsock://a:b', 'unix://relative', 'unix://', 'http://127.0.0.1:1', 'tcp://127.0.0.1:65536', 'tcp://127.0.0.1', 'unix:///a\0b', 'x'.repeat(5000)]) {
      expect(() => parseTransportUrl(u), u).toThrow(expect.objectContaining({ code: 'ERR_TRANSPORT_URL' }));
    }
  });
});

describe('unix and tcp transports', () => {
  it('listens on a unix socket only its owner may use, replacing a stale file', async () => {
    const path = join(tempDir('tr-'), 'w.sock');
    writeFileSync(path, 'stale');
    const l = await listenTransport(`unix://${path}`, (s) => s.end('hi'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const s = await dialTransport(`unix://${path}`);
    const got = await new Promise<string>((r) => s.once('data', (b: Buffer) => r(b.toString())));
    expect(got).toBe('hi');
    s.destroy();
    await l.close();
  });

  it('resolves tcp port 0 to the bound port, and reports refused or cancelled dials with typed errors', async () => {
    const l = await listenTransport('tcp://127.0.0.1:0', (s) => s.destroy());
    expect(l.address).toMatch(/^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
    await l.close();
    await expect(dialTransport(l.address)).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    const ac = new AbortController();
    ac.abort();
    await expect(dialTransport(l.address, { signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
    await expect(dialTransport('tcp://8.8.8.8:53')).rejects.toMatchObject({ code: 'ERR_TRANSPORT_URL' });
  });
});
