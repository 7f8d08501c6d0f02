// Answers the client must refuse: forged or missing signatures, answers for other requests,
// truncated/oversize bodies, redirects, non-200, unknown actions. Each ends in a typed error and
// no APPROVE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackClient } from '../../../enclave/approval/callback-client.ts';
import type { CallbackSettings } from '../../../enclave/vault/records.ts';
import { createEphemeralCa, type LocalCa } from '../../../local/local-ca.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import { startSampleHandler, type HandlerFaults, type SampleHandler } from '../../../local/callback-handler/handler.ts';
import { captureLogger, cosignerKey, fakeClock, signRequest } from './helpers.ts';

const USER = 'api-user-1';
let ca: LocalCa;
let jwtHandler: SampleHandler;
let jsonHandler: SampleHandler;
let client: CallbackClient;
const logs = captureLogger();

beforeAll(async () => {
  ca = await createEphemeralCa();
  const tls = await ca.issueServerCert();
  [jwtHandler, jsonHandler] = await Promise.all([
    startSampleHandler({ mode: 'public-key', tls, cosignerPublicKeyPem: cosignerKey().publicKeyPem }),
    startSampleHandler({ mode: 'certificate', tls }),
  ]);
  client = new CallbackClient({
    dial: loopbackDial().dial, signingKey: cosignerKey().privateKey, caPem: ca.certPem, clock: fakeClock(), callTimeoutMs: 5_000,
    maxBodyBytes: 4096, logger: logs.logger,
  });
});

afterAll(async () => {
  await Promise.all([jwtHandler?.close(), jsonHandler?.close()]);
});

function settings(h: SampleHandler): CallbackSettings {
  return h === jwtHandler
    ? { url: h.url, authMode: 'public-key', handlerPublicKeyPem: h.publicKeyPem }
    : { url: h.url, authMode: 'root-ca', rootCaPem: ca.certPem };
}

async function withFaults(h: SampleHandler, faults: HandlerFaults, requestId = 'req-attack'): Promise<unknown> {
  Object.assign(h.faults, faults);
  try {
    return await client.ask({ id: USER, callback: settings(h) }, 'tx_sign_request', signRequest(USER, { txId: requestId, requestId }), { purpose: 'sign' }).catch((e: unknown) => e);
  } finally {
    for (const k of Object.keys(h.faults)) delete h.faults[k as keyof HandlerFaults];
  }
}

describe('forged or missing signatures (public-key mode)', () => {
  it.each([
    ['alg: none', { signWith: 'alg-none' }],
    ['HS256 keyed with the handler public key', { signWith: 'hs256-public-key' }],
    ['RS256 with the wrong key', { signWith: 'wrong-key' }],
    ['truncated token', { truncate: true }],
    ['unsigned JSON answer', { unsigned: true }],
  ] as const)('rejects %s with ERR_CALLBACK_SIGNATURE', async (_name, faults) => {
    expect(await withFaults(jwtHandler, faults)).toMatchObject({ code: 'ERR_CALLBACK_SIGNATURE' });
  });

  it('rejects a token signed with ES256 when the configured key is RSA (algorithm pinned by key)', async () => {
    const es = await startSampleHandler({ mode: 'public-key', tls: await ca.issueServerCert(), cosignerPublicKeyPem: cosignerKey().publicKeyPem, alg: 'ES256' });
    try {
      const err = await client
        .ask({ id: USER, callback: { url: es.url, authMode: 'public-key', handlerPublicKeyPem: jwtHandler.publicKeyPem } }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_CALLBACK_SIGNATURE' });
    } finally {
      await es.close();
    }
  });
});

describe.each(['public-key', 'root-ca'] as const)('answers for something else (%s)', (mode) => {
  const h = (): SampleHandler => (mode === 'public-key' ? jwtHandler : jsonHandler);

  it('rejects a wrong requestId', async () => {
    expect(await withFaults(h(), { wrongRequestId: true })).toMatchObject({ code: 'ERR_CALLBACK_REQUEST_ID' });
  });

  it('rejects an answer replayed from another request', async () => {
    expect(await withFaults(h(), {}, 'first-request')).toMatchObject({ action: 'APPROVE' });
    expect(await withFaults(h(), { replayPrevious: true }, 'second-request')).toMatchObject({ code: 'ERR_CALLBACK_REQUEST_ID' });
  });

  it('rejects an oversize body', async () => {
    expect(await withFaults(h(), { oversizeBytes: 64 * 1024 })).toMatchObject({ code: 'ERR_CALLBACK_MALFORMED' });
  });

  it('does not follow a redirect', async () => {
    expect(await withFaults(h(), { redirectTo: 'https://127.0.0.1:1/elsewhere' })).toMatchObject({ code: 'ERR_CALLBACK_HTTP', details: { status: 302 } });
  });

  it.each([401, 500, 204])('treats HTTP %i as a failure', async (status) => {
    expect(await withFaults(h(), { status })).toMatchObject({ code: 'ERR_CALLBACK_HTTP', details: { status } });
  });

  it('rejects an unknown action', async () => {
    expect(await withFaults(h(), { action: 'MAYBE' })).toMatchObject({ code: 'ERR_CALLBACK_MALFORMED' });
  });
});

describe('logs', () => {
  it('never hold the signed request, the answer token or key material', () => {
    const text = logs.lines.join('\n');
    expect(text).toContain('callback.decision');
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // a JWS header
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain('BEGIN PUBLIC KEY');
    expect(text).not.toContain('77b4e74099ce90c08503c0e0bb6e672dbe1c5e3e127ce333bf22eb581cd3f6ce'); // the payload to sign
  });
});
