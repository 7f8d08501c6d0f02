import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEphemeralCa, loadOrCreateLocalCa, selfSignedCert, type IssuedCert } from '../../local/local-ca.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function handshake(server: IssuedCert, caPem: string): Promise<'ok' | string> {
  return new Promise((resolve) => {
    const srv = createServer({ cert: server.certPem, key: server.keyPem }, (s) => s.end());
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      const c = connect({ host: '127.0.0.1', port, ca: caPem, servername: 'localhost' }, () => {
        c.end();
        srv.close();
        resolve('ok');
      });
      c.on('error', (e: NodeJS.ErrnoException) => {
        srv.close();
        resolve(e.code ?? e.message);
      });
    });
  });
}

describe('local CA', () => {
  it('issues server certificates that chain to it and name localhost and 127.0.0.1', async () => {
    const ca = await createEphemeralCa();
    const leaf = await ca.issueServerCert();
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain('DNS:localhost');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.ca).toBe(false);
    expect(await handshake(leaf, ca.certPem)).toBe('ok');
  });

  it('a self-signed or foreign certificate does not pass TLS validation against the CA', async () => {
    const ca = await createEphemeralCa();
    const other = await createEphemeralCa('other');
    expect(await handshake(await selfSignedCert(), ca.certPem)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(await handshake(await other.issueServerCert(), ca.certPem)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('an expired certificate is refused', async () => {
    const ca = await createEphemeralCa();
    const leaf = await ca.issueServerCert(undefined, { notBefore: new Date(Date.now() - 10 * 86_400_000), validityMs: 86_400_000 });
    expect(await handshake(leaf, ca.certPem)).toBe('CERT_HAS_EXPIRED');
  });

  it('the persisted CA is created once, reused, and its key is private to the owner', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cosigner-ca-'));
    dirs.push(dir);
    const a = await loadOrCreateLocalCa(dir);
    const b = await loadOrCreateLocalCa(dir);
    expect(b.certPem).toBe(a.certPem);
    expect((await stat(join(dir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect(await handshake(await b.issueServerCert(), a.certPem)).toBe('ok');
  });
});
