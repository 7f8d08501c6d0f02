import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ImdsCredentialSource } from '../../../parent/credentials/imds.ts';
import { startImdsStandin, type ImdsStandin } from '../../../local/imds/server.ts';
import type { Clock } from '../../../proto/ports.ts';
import { rejectionCode as code } from '../../support/error-code.ts';

let imds: ImdsStandin | undefined;
let raw: http.Server | undefined;
afterEach(async () => {
  await imds?.close();
  imds = undefined;
  await new Promise<void>((r) => (raw ? raw.close(() => r()) : r()));
  raw = undefined;
});

function fakeClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, sleep: async () => undefined, advance: (ms) => (t += ms) };
}

describe('ImdsCredentialSource against the IMDSv2 stand-in', () => {
  it('fetches a token then role credentials, and caches them', async () => {
    const clock = fakeClock();
    imds = await startImdsStandin({ now: clock.now });
    const src = new ImdsCredentialSource({ endpoint: imds.url, clock });
    const a = await src.get();
    expect(a.accessKeyId).toMatch(/^ASIA/);
    expect(a.sessionToken).toBeTruthy();
    expect(imds.lookup(a.accessKeyId)?.arn).toMatch(/assumed-role\/cosigner-instance\//);
    const b = await src.get();
    expect(b).toBe(a);
    expect(imds.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it('refreshes before expiry and picks up rotated credentials', async () => {
    const clock = fakeClock();
    imds = await startImdsStandin({ now: clock.now, credentialLifetimeMs: 60 * 60 * 1000, rotateBeforeMs: 15 * 60 * 1000 });
    const src = new ImdsCredentialSource({ endpoint: imds.url, clock, refreshBeforeMs: 10 * 60 * 1000 });
    const a = await src.get();
    clock.advance(49 * 60 * 1000); // 11 min left: still cached
    expect((await src.get()).accessKeyId).toBe(a.accessKeyId);
    clock.advance(2 * 60 * 1000); // 9 min left: refresh; the stand-in has rotated (inside its 15 min window)
    const b = await src.get();
    expect(b.accessKeyId).not.toBe(a.accessKeyId);
    clock.advance(2 * 60 * 60 * 1000);
    expect(imds.lookup(a.accessKeyId)).toBeUndefined();
  });

  it('stand-in refuses requests without a token or with a bad TTL', async () => {
    imds = await startImdsStandin();
    const get = await fetch(`${imds.url}/latest/meta-data/iam/security-credentials/`);
    expect(get.status).toBe(401);
    const bad = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '0' } });
    expect(bad.status).toBe(400);
    const wrongToken = await fetch(`${imds.url}/latest/meta-data/iam/security-credentials/`, { headers: { 'x-aws-ec2-metadata-token': 'nope' } });
    expect(wrongToken.status).toBe(401);
  });

  it('fails with ERR_CREDENTIALS when IMDS is unreachable, malformed or oversized', async () => {
    expect(await code(new ImdsCredentialSource({ endpoint: 'http://127.0.0.1:1', timeoutMs: 500 }).get())).toBe('ERR_CREDENTIALS');
    let mode: 'malformed' | 'huge' | 'norole' = 'malformed';
    raw = http.createServer((req, res) => {
      req.resume();
      if (req.method === 'PUT') return res.end('tok');
      if (req.url?.endsWith('/security-credentials/')) return res.end(mode === 'norole' ? '../etc' : 'role');
      if (mode === 'huge') return res.end('x'.repeat(64 * 1024));
      res.end(JSON.stringify({ Code: 'Success', AccessKeyId: 'AKID', SecretAccessKey: 's' }));
    });
    await new Promise<void>((r) => raw!.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    expect(await code(new ImdsCredentialSource({ endpoint: url }).get())).toBe('ERR_CREDENTIALS');
    mode = 'huge';
    expect(await code(new ImdsCredentialSource({ endpoint: url }).get())).toBe('ERR_CREDENTIALS');
    mode = 'norole';
    expect(await code(new ImdsCredentialSource({ endpoint: url }).get())).toBe('ERR_CREDENTIALS');
  });

  it('keeps serving valid cached credentials when a refresh fails', async () => {
    const clock = fakeClock();
    imds = await startImdsStandin({ now: clock.now, credentialLifetimeMs: 60 * 60 * 1000 });
    const src = new ImdsCredentialSource({ endpoint: imds.url, clock, refreshBeforeMs: 10 * 60 * 1000 });
    const a = await src.get();
    await imds.close();
    imds = undefined;
    clock.advance(55 * 60 * 1000);
    expect((await src.get()).accessKeyId).toBe(a.accessKeyId);
    clock.advance(10 * 60 * 1000);
    expect(await code(src.get())).toBe('ERR_CREDENTIALS');
  });
});
