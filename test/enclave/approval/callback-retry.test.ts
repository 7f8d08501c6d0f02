// RETRY on an injected clock, a handler that is down or too slow, cancellation, and load.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackClient } from '../../../enclave/approval/callback-client.ts';
import type { CallbackSettings } from '../../../enclave/vault/records.ts';
import { createEphemeralCa, type LocalCa } from '../../../local/local-ca.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import { startSampleHandler, type SampleHandler } from '../../../local/callback-handler/handler.ts';
import { captureLogger, cosignerKey, fakeClock, signRequest } from './helpers.ts';

const USER = 'api-user-1';
let ca: LocalCa;
let h: SampleHandler;
const dial = loopbackDial().dial;

beforeAll(async () => {
  ca = await createEphemeralCa();
  h = await startSampleHandler({ mode: 'public-key', tls: await ca.issueServerCert(), cosignerPublicKeyPem: cosignerKey().publicKeyPem });
});
afterAll(async () => {
  await h?.close();
});

function settings(extra: Partial<CallbackSettings> = {}): CallbackSettings {
  return { url: h.url, authMode: 'public-key', handlerPublicKeyPem: h.publicKeyPem, ...extra };
}

function client(extra: Partial<ConstructorParameters<typeof CallbackClient>[0]> = {}): CallbackClient {
  return new CallbackClient({ dial, signingKey: cosignerKey().privateKey, caPem: ca.certPem, callTimeoutMs: 5_000, ...extra });
}

describe('RETRY', () => {
  it('asks again with the identical request every interval (default 3 min) until the handler decides', async () => {
    h.rules = { retryFirstN: 3 };
    const clock = fakeClock();
    const { logger, records } = captureLogger();
    const before = h.calls.length;
    try {
      const d = await client({ clock, logger }).ask({ id: USER, callback: settings() }, 'tx_sign_request', signRequest(USER, { txId: 'r1', requestId: 'r1' }), { purpose: 'sign' });
      expect(d).toMatchObject({ action: 'APPROVE', attempts: 4, latencyMs: 3 * 180_000 });
      expect(clock.sleeps).toEqual([180_000, 180_000, 180_000]);
      const bodies = h.calls.slice(before).map((c) => c.rawBody);
      expect(bodies).toHaveLength(4);
      expect(new Set(bodies).size).toBe(1);
      expect(records().find((r) => r.event === 'callback.decision')).toMatchObject({ attempts: 4, latencyMs: 540_000 });
    } finally {
      h.rules = {};
    }
  });

  it('gives up with ERR_CALLBACK_RETRY_EXHAUSTED after the configured total', async () => {
    h.faults.action = 'RETRY';
    const clock = fakeClock();
    try {
      const err = await client({ clock })
        .ask({ id: USER, callback: settings({ retryIntervalMs: 30_000, retryTotalMs: 90_000 }) }, 'tx_sign_request', signRequest(USER, { txId: 'r2', requestId: 'r2' }), { purpose: 'sign' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_CALLBACK_RETRY_EXHAUSTED', details: { attempts: 4 } });
      expect(clock.sleeps).toEqual([30_000, 30_000, 30_000]);
    } finally {
      delete h.faults.action;
    }
  });

  it('default schedule is 20 retries (60 min)', async () => {
    h.faults.action = 'RETRY';
    const clock = fakeClock();
    try {
      await expect(client({ clock }).ask({ id: USER, callback: settings() }, 'tx_sign_request', signRequest(USER, { txId: 'r3', requestId: 'r3' }), { purpose: 'sign' }))
        .rejects.toMatchObject({ code: 'ERR_CALLBACK_RETRY_EXHAUSTED', details: { attempts: 21 } });
      expect(clock.sleeps).toHaveLength(20);
    } finally {
      delete h.faults.action;
    }
  });

  it('refuses a schedule outside 30 s – 1 h interval / 48 h total', () => {
    expect(() => client({ retry: { intervalMs: 1_000, totalMs: 60_000 } })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => client({ retry: { intervalMs: 60_000, totalMs: 49 * 3_600_000 } })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('stops waiting when the caller cancels', async () => {
    h.faults.action = 'RETRY';
    const ac = new AbortController();
    const clock = { now: () => 0, sleep: (_ms: number, signal?: AbortSignal) => new Promise<void>((_r, reject) => { signal?.addEventListener('abort', () => reject(signal.reason)); ac.abort(); }) };
    try {
      await expect(client({ clock }).ask({ id: USER, callback: settings() }, 'tx_sign_request', signRequest(USER, { txId: 'r4', requestId: 'r4' }), { purpose: 'sign', signal: ac.signal }))
        .rejects.toMatchObject({ code: 'ERR_CANCELLED' });
    } finally {
      delete h.faults.action;
    }
  });
});

describe('unreachable or slow handlers', () => {
  it('handler down → ERR_CALLBACK_HTTP', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await expect(client().ask({ id: USER, callback: settings({ url: `https://127.0.0.1:${port}` }) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
      .rejects.toMatchObject({ code: 'ERR_CALLBACK_HTTP' });
  });

  it('handler slower than the deadline → ERR_CALLBACK_TIMEOUT', async () => {
    h.faults.delayMs = 1_000;
    try {
      await expect(client({ callTimeoutMs: 200 }).ask({ id: USER, callback: settings() }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
        .rejects.toMatchObject({ code: 'ERR_CALLBACK_TIMEOUT' });
    } finally {
      delete h.faults.delayMs;
    }
  });

  it('handler that never answers → ERR_CALLBACK_TIMEOUT', async () => {
    h.faults.neverAnswer = true;
    try {
      await expect(client({ callTimeoutMs: 200 }).ask({ id: USER, callback: settings() }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
        .rejects.toMatchObject({ code: 'ERR_CALLBACK_TIMEOUT' });
    } finally {
      delete h.faults.neverAnswer;
    }
  });

  it('a TCP peer that accepts and stays silent (no TLS) → ERR_CALLBACK_TIMEOUT', async () => {
    const conns = new Set<net.Socket>();
    const silent = net.createServer((sock) => void conns.add(sock.resume())); // reads, never writes
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      await expect(client({ callTimeoutMs: 200 }).ask({ id: USER, callback: settings({ url: `https://127.0.0.1:${port}` }) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
        .rejects.toMatchObject({ code: 'ERR_CALLBACK_TIMEOUT' });
    } finally {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('load', () => {
  it('answers 100 concurrent requests, each for its own requestId', async () => {
    const c = client({ callTimeoutMs: 20_000 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        c.ask({ id: USER, callback: settings() }, 'tx_sign_request', signRequest(USER, { txId: `c-${i}`, requestId: `c-${i}` }), { purpose: 'sign' }),
      ),
    );
    expect(results.every((d) => d.action === 'APPROVE' && d.attempts === 1)).toBe(true);
    expect(new Set(results.map((d) => d.payloadDigest)).size).toBe(100);
  });
});
