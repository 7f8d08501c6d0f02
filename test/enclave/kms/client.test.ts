import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../../enclave/kms/client.ts';
import { kmsError } from '../../../enclave/kms/errors.ts';
import { createEphemeralCa, selfSignedCert } from '../../../local/local-ca.ts';
import { startKmsStandin, type KmsStandin } from '../../../local/kms/server.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import type { Dial } from '../../../proto/ports.ts';

const creds = { get: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }) };
const principals = { AKID: { secretAccessKey: 'secret', arn: 'arn:aws:iam::111122223333:role/admin' } };
let dir: string;
let trusted: KmsStandin;
let selfSigned: KmsStandin;
let caPem: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ncs-kmsclient-'));
  const ca = await createEphemeralCa();
  caPem = ca.certPem;
  trusted = await startKmsStandin({ dir: join(dir, 'a'), trustRootsPem: [], tls: await ca.issueServerCert(['localhost']), principals, verifyRecipient: () => { throw new Error('unused'); } });
  selfSigned = await startKmsStandin({ dir: join(dir, 'b'), trustRootsPem: [], tls: await selfSignedCert(['localhost']), principals, verifyRecipient: () => { throw new Error('unused'); } });
});
afterAll(async () => {
  await trusted.close();
  await selfSigned.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

async function mapped(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return kmsError(err, 'DescribeKey').code;
  }
  return 'no error';
}

const describeMissing = new DescribeKeyCommand({ KeyId: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000' });

describe('createKmsClient: TLS in the enclave over Dial tunnels', () => {
  it('reaches the stand-in through the tunnel and verifies its certificate against the given CA', async () => {
    const rec = loopbackDial();
    const c = createKmsClient({ region: 'us-east-1', endpoint: `https://localhost:${trusted.port}`, caPem, dial: rec.dial, credentials: creds, maxAttempts: 1 });
    expect(await mapped(c.send(describeMissing))).toBe('ERR_KMS');
    expect(rec.connections).toBe(1);
    c.destroy();
  });

  it('refuses a server whose certificate does not chain to the CA (self-signed)', async () => {
    const c = createKmsClient({ region: 'us-east-1', endpoint: `https://localhost:${selfSigned.port}`, caPem, dial: loopbackDial().dial, credentials: creds, maxAttempts: 1 });
    const err = await c.send(describeMissing).catch((e: unknown) => e as Error);
    expect(String((err as Error).message)).toMatch(/self[- ]signed|certificate/i);
    expect(kmsError(err, 'DescribeKey').code).toBe('ERR_KMS_UNAVAILABLE');
    c.destroy();
  });

  it('refuses a certificate for another name', async () => {
    // the stand-in's certificate names localhost; reach it as kms.us-east-1.amazonaws.com through the tunnel
    const rec = loopbackDial({ hostMap: { 'kms.us-east-1.amazonaws.com:443': { host: '127.0.0.1', port: trusted.port } } });
    const c = createKmsClient({ region: 'us-east-1', caPem, dial: rec.dial, credentials: creds, maxAttempts: 1 });
    const err = await c.send(describeMissing).catch((e: unknown) => e as Error);
    expect(String((err as Error).message)).toMatch(/altnames|Hostname|does not match/i);
    c.destroy();
  });

  it('a failing or hanging tunnel becomes ERR_KMS_UNAVAILABLE within the dial bound', async () => {
    const failing: Dial = async () => {
      throw new Error('egress denied');
    };
    const c1 = createKmsClient({ region: 'us-east-1', endpoint: `https://localhost:${trusted.port}`, caPem, dial: failing, credentials: creds, maxAttempts: 1 });
    expect(await mapped(c1.send(describeMissing))).toBe('ERR_KMS_UNAVAILABLE');
    const hanging: Dial = () => new Promise<Duplex>(() => undefined);
    const c2 = createKmsClient({ region: 'us-east-1', endpoint: `https://localhost:${trusted.port}`, caPem, dial: hanging, credentials: creds, maxAttempts: 1, dialTimeoutMs: 200 });
    expect(await mapped(c2.send(describeMissing))).toBe('ERR_KMS_UNAVAILABLE');
    c1.destroy();
    c2.destroy();
  });

  it('a server that completes TLS and never answers ends the call at its deadline with ERR_KMS_UNAVAILABLE', async () => {
    const ca = await createEphemeralCa();
    const cert = await ca.issueServerCert(['localhost']);
    const held: tls.TLSSocket[] = [];
    const silent = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => void held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    // The SDK's own retries (3 attempts) would wait 3 × the socket timeout; the deadline covers them all.
    const c = createKmsClient({ region: 'us-east-1', endpoint: `https://localhost:${port}`, caPem: ca.certPem, dial: loopbackDial().dial, credentials: creds, callDeadlineMs: 500 });
    try {
      const err = await c.send(describeMissing).catch((e: unknown) => e);
      expect(kmsError(err, 'DescribeKey')).toMatchObject({ code: 'ERR_KMS_UNAVAILABLE', message: expect.stringMatching(/within 500 ms/) });
      expect(held.length).toBeGreaterThan(0);
    } finally {
      c.destroy();
      for (const s of held) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('missing or malformed credentials from the parent → ERR_CREDENTIALS', async () => {
    const c = createKmsClient({
      region: 'us-east-1', endpoint: `https://localhost:${trusted.port}`, caPem, dial: loopbackDial().dial, maxAttempts: 1,
      credentials: { get: async () => ({ accessKeyId: 5 as unknown as string, secretAccessKey: '' }) },
    });
    expect(await mapped(c.send(describeMissing))).toBe('ERR_CREDENTIALS');
    c.destroy();
  });

  it('keeps an idle tunnel open between calls, and destroy() closes it (no KMS tunnel outlives the client)', async () => {
    const tunnels: Duplex[] = [];
    const base = loopbackDial().dial;
    const dial: Dial = async (host, port, o) => {
      const t = await base(host, port, o);
      tunnels.push(t);
      return t;
    };
    const c = createKmsClient({ region: 'us-east-1', endpoint: `https://localhost:${trusted.port}`, caPem, dial, credentials: creds, maxAttempts: 1 });
    expect(await mapped(c.send(describeMissing))).toBe('ERR_KMS');
    expect(await mapped(c.send(describeMissing))).toBe('ERR_KMS');
    // Keep-alive: both calls went through one tunnel, still open while idle.
    expect(tunnels).toHaveLength(1);
    expect(tunnels[0]!.destroyed).toBe(false);
    c.destroy();
    await until(() => tunnels[0]!.destroyed);
    expect(tunnels[0]!.destroyed).toBe(true);
  });

  it('destroy() while a tunnel is still being dialled: the late tunnel is closed, not kept', async () => {
    let deliver: (() => void) | undefined;
    const late: Duplex[] = [];
    const base = loopbackDial().dial;
    const slow: Dial = (host, port) =>
      new Promise<Duplex>((resolve, reject) => {
        deliver = () => void base(host, port).then((t) => (late.push(t), resolve(t)), reject);
      });
    const c = createKmsClient({ region: 'us-east-1', endpoint: `https://localhost:${trusted.port}`, caPem, dial: slow, credentials: creds, maxAttempts: 1 });
    const call = mapped(c.send(describeMissing));
    await until(() => deliver !== undefined);
    c.destroy();
    // The pending call ends as cancelled (the client was closed), not as a KMS answer.
    expect(await call).toBe('ERR_CANCELLED');
    deliver!();
    await until(() => late.length === 1 && late[0]!.destroyed);
    expect(late[0]!.destroyed).toBe(true);
  });

  it('rejects bad regions and non-https endpoints up front', () => {
    expect(() => createKmsClient({ region: 'us-east-1/evil', dial: loopbackDial().dial, credentials: creds })).toThrow(/region/);
    expect(() => createKmsClient({ region: 'us-east-1', endpoint: 'https://localhost:1/path', dial: loopbackDial().dial, credentials: creds })).toThrow(/https/);
  });
});
