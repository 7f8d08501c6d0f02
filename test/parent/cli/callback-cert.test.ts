import https from 'node:https';
import net from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchHandlerCertificate, readCertificatePem, readPublicKeyPem } from '../../../parent/cli/callback-cert.ts';
import { selfSignedCert, type IssuedCert } from '../../../local/local-ca.ts';
import { spkiSha256, parseCertificate } from '../../../enclave/approval/settings.ts';

let cert: IssuedCert;
let server: https.Server;
let port: number;
let requests = 0;

beforeAll(async () => {
  cert = await selfSignedCert();
  server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
    requests++;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('fetchHandlerCertificate', () => {
  it('reads a self-signed handler certificate without sending a request, with the pin the enclave uses', async () => {
    const c = await fetchHandlerCertificate(`https://127.0.0.1:${port}`);
    expect(c.pem.replace(/\s/g, '')).toBe(cert.certPem.replace(/\s/g, ''));
    expect(c.sha256Fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(c.spkiSha256).toBe(spkiSha256(parseCertificate(cert.certPem, 'x')));
    expect(requests).toBe(0);
  });

  it('refuses http:// and unreachable handlers', async () => {
    await expect(fetchHandlerCertificate(`http://127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const closed = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await expect(fetchHandlerCertificate(`https://127.0.0.1:${closed}`)).rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS' });
  });

  it('times out on a peer that never speaks TLS', async () => {
    const conns = new Set<net.Socket>();
    const silent = net.createServer((s) => void conns.add(s.resume()));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      await expect(fetchHandlerCertificate(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, { timeoutMs: 150 })).rejects.toMatchObject({ code: 'ERR_CALLBACK_TIMEOUT' });
    } finally {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('pasted material', () => {
  it('accepts RSA-2048 and P-256 public keys', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(readPublicKeyPem(`  ${rsa}\n`)).toMatchObject({ alg: 'RS256', spkiSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(readPublicKeyPem(ec).alg).toBe('ES256');
  });

  it.each([
    ['a private key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
    ['an RSA-1024 key', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['an Ed25519 key', () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['garbage', () => '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----'],
  ])('refuses %s', (_n, make) => {
    expect(() => readPublicKeyPem(make())).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('reads a certificate.pem and refuses anything else', () => {
    expect(readCertificatePem(cert.certPem).spkiSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(() => readCertificatePem('hello')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });
});
