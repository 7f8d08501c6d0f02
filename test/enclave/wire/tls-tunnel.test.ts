// The enclave's one TLS-over-tunnel helper (KMS, coordinator, Callback Handler all use it): SNI is
// the configured name and never an IP literal, TLS 1.2 at least, the caller's trust anchors, the
// pin alternative, and one deadline over dial and handshake with a typed error.
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEphemeralCa, selfSignedCert, type IssuedCert, type LocalCa } from '../../../local/local-ca.ts';
import { CosignerError } from '../../../proto/errors.ts';
import type { Dial } from '../../../proto/ports.ts';
import { openTlsTunnel, sniFor } from '../../../enclave/wire/tls-tunnel.ts';

let ca: LocalCa;
let other: LocalCa;
let cert: IssuedCert;
const servers: net.Server[] = [];
const accepted = new Set<net.Socket>();
const track = (srv: net.Server): void => void srv.on('connection', (c: net.Socket) => accepted.add(c));

beforeAll(async () => {
  ca = await createEphemeralCa('tls-tunnel test CA');
  other = await createEphemeralCa('another CA');
  cert = await ca.issueServerCert(['handler.test', '127.0.0.1', '::1']);
});
afterAll(async () => {
  for (const c of accepted) c.destroy();
  for (const s of servers) await new Promise((r) => s.close(r));
});

/** A loopback TLS server that records the SNI of every handshake and answers "ok". */
async function server(opts: tls.TlsOptions = {}, c: IssuedCert = cert): Promise<{ port: number; sni: (string | false)[] }> {
  const sni: (string | false)[] = [];
  const s = tls.createServer({ key: c.keyPem, cert: c.certPem, ...opts }, (sock) => sock.end('ok'));
  s.on('tlsClientError', () => undefined);
  s.on('secureConnection', (sock) => sni.push((sock as tls.TLSSocket & { servername: string | false }).servername));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  track(s);
  return { port: (s.address() as net.AddressInfo).port, sni };
}

/** Stands in for the parent's relay: whatever host is asked for, connects to loopback. */
const loopback: Dial = async (_host, port) => net.connect({ host: '127.0.0.1', port });

const read = (s: tls.TLSSocket): Promise<string> =>
  new Promise((resolve, reject) => {
    let t = '';
    s.on('data', (b: Buffer) => (t += b.toString()));
    s.on('end', () => resolve(t));
    s.on('error', reject);
  });

describe('openTlsTunnel', () => {
  it('sends the configured host name as SNI and verifies it against the given CA', async () => {
    const srv = await server();
    const s = await openTlsTunnel({ dial: loopback, host: 'handler.test', port: srv.port, ca: ca.certPem, timeoutMs: 5_000 });
    expect(s.authorized).toBe(true);
    expect(await read(s)).toBe('ok');
    expect(srv.sni).toEqual(['handler.test']);
  });

  it('sends no SNI for an IP literal and checks the IP against the certificate', async () => {
    expect(sniFor('10.0.0.1')).toBeUndefined();
    expect(sniFor('::1')).toBeUndefined();
    const srv = await server();
    const s = await openTlsTunnel({ dial: loopback, host: '127.0.0.1', port: srv.port, ca: [ca.certPem], timeoutMs: 5_000 });
    expect(await read(s)).toBe('ok');
    expect(srv.sni).toEqual([false]);
    // The same certificate does not name 10.0.0.1: refused even though the chain is good.
    await expect(openTlsTunnel({ dial: loopback, host: '10.0.0.1', port: srv.port, ca: ca.certPem, timeoutMs: 5_000 })).rejects.toMatchObject({
      code: 'ERR_UNAVAILABLE',
      message: expect.stringContaining('ERR_TLS_CERT_ALTNAME_INVALID'),
    });
  });

  it('refuses a name the certificate does not carry and a chain to other anchors, with the caller\'s code', async () => {
    const srv = await server();
    const codes = { tls: 'ERR_CALLBACK_TLS' } as const;
    await expect(openTlsTunnel({ dial: loopback, host: 'evil.test', port: srv.port, ca: ca.certPem, timeoutMs: 5_000, codes })).rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS' });
    await expect(openTlsTunnel({ dial: loopback, host: 'handler.test', port: srv.port, ca: other.certPem, timeoutMs: 5_000, codes })).rejects.toMatchObject({
      code: 'ERR_CALLBACK_TLS',
      message: expect.stringMatching(/UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/),
    });
  });

  it('refuses a server that speaks TLS 1.1 at most', async () => {
    // SECLEVEL=0 lets OpenSSL 3 offer TLS 1.1 at all, so the refusal below is the client's minVersion.
    const srv = await server({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    const err = await openTlsTunnel({ dial: loopback, host: 'handler.test', port: srv.port, ca: ca.certPem, timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CosignerError);
    expect(err).toMatchObject({ code: 'ERR_UNAVAILABLE', message: expect.stringMatching(/protocol|version/i) });
    expect(srv.sni).toEqual([]);
  });

  it('ends a hanging dial, and a handshake that never completes, with the timeout code', async () => {
    const hanging: Dial = () => new Promise(() => undefined);
    const t0 = Date.now();
    await expect(openTlsTunnel({ dial: hanging, host: 'handler.test', port: 443, timeoutMs: 100, codes: { timeout: 'ERR_CALLBACK_TIMEOUT' } })).rejects.toMatchObject({ code: 'ERR_CALLBACK_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(2_000);

    // A TCP server that accepts and never answers the ClientHello.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    servers.push(silent);
    track(silent);
    const port = (silent.address() as net.AddressInfo).port;
    let raw: net.Socket | undefined;
    const dial: Dial = async (_h, _p) => (raw = net.connect({ host: '127.0.0.1', port }));
    await expect(openTlsTunnel({ dial, host: 'handler.test', port, ca: ca.certPem, timeoutMs: 150 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(raw?.destroyed).toBe(true);
  });

  it('reports a dial failure with the caller\'s code and the port\'s reason, or passes it on', async () => {
    const denied: Dial = async () => {
      throw new CosignerError('ERR_EGRESS_DENIED', 'not on the allow-list');
    };
    await expect(openTlsTunnel({ dial: denied, host: 'handler.test', port: 443, timeoutMs: 1_000, codes: { dial: 'ERR_CALLBACK_HTTP' } })).rejects.toMatchObject({
      code: 'ERR_CALLBACK_HTTP',
      message: expect.stringContaining('ERR_EGRESS_DENIED'),
    });
    await expect(openTlsTunnel({ dial: denied, host: 'handler.test', port: 443, timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
  });

  it('rejects with the signal\'s reason when aborted', async () => {
    const ac = new AbortController();
    const p = openTlsTunnel({ dial: () => new Promise(() => undefined), host: 'handler.test', port: 443, timeoutMs: 5_000, signal: ac.signal });
    ac.abort(new CosignerError('ERR_CANCELLED', 'stop'));
    await expect(p).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
  });

  it('in pin mode accepts a self-signed certificate only when the pin check passes', async () => {
    const self = await selfSignedCert(['handler.test']);
    const srv = await server({}, self);
    const expected = new X509Certificate(self.certPem).fingerprint256;
    const pin = (peer: X509Certificate | undefined) => (peer?.fingerprint256 === expected ? undefined : new CosignerError('ERR_CALLBACK_TLS', 'pin mismatch'));
    const s = await openTlsTunnel({ dial: loopback, host: 'handler.test', port: srv.port, pin, timeoutMs: 5_000 });
    expect(await read(s)).toBe('ok');
    const wrong = () => new CosignerError('ERR_CALLBACK_TLS', 'pin mismatch');
    await expect(openTlsTunnel({ dial: loopback, host: 'handler.test', port: srv.port, pin: wrong, timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS', message: 'pin mismatch' });
    // Without a pin the same self-signed certificate is refused: verification is never just off.
    await expect(openTlsTunnel({ dial: loopback, host: 'handler.test', port: srv.port, timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
  });
});
