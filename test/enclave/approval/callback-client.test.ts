// Every authentication mode and every action against the sample handler, over TLS that starts on
// the "enclave" side of a loopback Dial.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { CallbackClient } from '../../../enclave/approval/callback-client.ts';
import type { CallbackSettings } from '../../../enclave/vault/records.ts';
import { createEphemeralCa, type LocalCa, type IssuedCert } from '../../../local/local-ca.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import { createRelay, parseAllowList } from '../../../parent/relay/index.ts';
import { startSampleHandler, type SampleHandler } from '../../../local/callback-handler/handler.ts';
import { captureLogger, configRequest, cosignerKey, fakeClock, signRequest } from './helpers.ts';

const USER = 'api-user-1';
let ca: LocalCa;
let serverCert: IssuedCert;
let pkHandler: SampleHandler; // public-key mode over HTTPS (CA-validated; hybrids reuse it)
let esHandler: SampleHandler; // public-key mode, ES256 responses
let certHandler: SampleHandler; // certificate mode (plain JSON over pinned / rooted TLS)
const dial = loopbackDial().dial;

function client(extra: Partial<ConstructorParameters<typeof CallbackClient>[0]> = {}): CallbackClient {
  return new CallbackClient({ dial, signingKey: cosignerKey().privateKey, caPem: ca.certPem, clock: fakeClock(), callTimeoutMs: 5_000, ...extra });
}

beforeAll(async () => {
  ca = await createEphemeralCa();
  serverCert = await ca.issueServerCert();
  const cosignerPublicKeyPem = cosignerKey().publicKeyPem;
  [pkHandler, esHandler, certHandler] = await Promise.all([
    startSampleHandler({ mode: 'public-key', tls: serverCert, cosignerPublicKeyPem, rules: { maxAmountPerAsset: { ETH: '1' } } }),
    startSampleHandler({ mode: 'public-key', tls: serverCert, cosignerPublicKeyPem, alg: 'ES256' }),
    startSampleHandler({ mode: 'certificate', tls: serverCert, rules: { maxAmountPerAsset: { ETH: '1' }, ignoreConfigTypes: ['POLICY_CHANGE'] } }),
  ]);
});

afterAll(async () => {
  await Promise.all([pkHandler?.close(), esHandler?.close(), certHandler?.close()]);
});

const pk = (): CallbackSettings => ({ url: pkHandler.url, authMode: 'public-key', handlerPublicKeyPem: pkHandler.publicKeyPem });

describe('public-key mode', () => {
  it('APPROVEs a transaction; the handler verified the RS256 request on /v2/tx_sign_request and saw exactly the digested payload', async () => {
    const { logger, records } = captureLogger();
    const req = signRequest(USER);
    const d = await client({ logger }).ask({ id: USER, callback: pk() }, 'tx_sign_request', req, { purpose: 'sign' });
    expect(d).toMatchObject({ action: 'APPROVE', handler: true, attempts: 1 });
    const call = pkHandler.calls.at(-1)!;
    expect(call).toMatchObject({ path: '/v2/tx_sign_request', verified: true, requestId: req.requestId });
    const [, payloadB64] = call.rawBody.split('.');
    const seen = Buffer.from(payloadB64!, 'base64url');
    expect(createHash('sha256').update(seen).digest('hex')).toBe(d.payloadDigest);
    expect(decodeJwt(call.rawBody)).toEqual(req); // no iat/exp/iss claims added
    const audit = records().filter((r) => r.event === 'callback.decision');
    expect(audit).toEqual([expect.objectContaining({ requestId: req.requestId, userId: USER, action: 'APPROVE', attempts: 1, handler: true })]);
  });

  it('verifies ES256 answers when the configured handler key is P-256', async () => {
    const d = await client().ask(
      { id: USER, callback: { url: esHandler.url, authMode: 'public-key', handlerPublicKeyPem: esHandler.publicKeyPem } },
      'tx_sign_request', signRequest(USER), { purpose: 'sign' },
    );
    expect(d.action).toBe('APPROVE');
  });

  it('REJECT is final, throws ERR_CALLBACK_REJECTED and records the reason', async () => {
    const { logger, records } = captureLogger();
    const req = signRequest(USER, { txId: 'tx-big', requestId: 'tx-big', amountStr: '5.0' });
    const err = await client({ logger }).ask({ id: USER, callback: pk() }, 'tx_sign_request', req, { purpose: 'sign' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CALLBACK_REJECTED', details: { reason: expect.stringContaining('above the limit') } });
    expect(records().find((r) => r.event === 'callback.decision')).toMatchObject({ action: 'REJECT', reason: expect.stringContaining('above the limit'), requestId: 'tx-big' });
  });

  it('destination allow-list rule rejects other addresses', async () => {
    pkHandler.rules = { allowedDestinations: ['0x1111111111111111111111111111111111111111'] };
    try {
      await expect(client().ask({ id: USER, callback: pk() }, 'tx_sign_request', signRequest(USER, { txId: 'd1', requestId: 'd1' }), { purpose: 'sign' }))
        .rejects.toMatchObject({ code: 'ERR_CALLBACK_REJECTED' });
    } finally {
      pkHandler.rules = { maxAmountPerAsset: { ETH: '1' } };
    }
  });

  it('config changes go to /v2/config_change_sign_request; IGNORE counts for approvals only', async () => {
    const c = client();
    const user = { id: USER, callback: pk() };
    pkHandler.faults.action = 'IGNORE';
    try {
      const d = await c.ask(user, 'config_change_sign_request', configRequest(USER), { purpose: 'approve' });
      expect(d.action).toBe('IGNORE');
      expect(pkHandler.calls.at(-1)).toMatchObject({ path: '/v2/config_change_sign_request', verified: true });
      await expect(c.ask(user, 'tx_sign_request', signRequest(USER), { purpose: 'sign' })).rejects.toMatchObject({ code: 'ERR_CALLBACK_IGNORED' });
    } finally {
      delete pkHandler.faults.action;
    }
  });

  it('refuses a server certificate from a CA it does not trust (ERR_CALLBACK_TLS)', async () => {
    const other = await createEphemeralCa('someone else');
    await expect(
      client({ caPem: other.certPem }).ask({ id: USER, callback: pk() }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }),
    ).rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS' });
  });

  it('refuses a certificate for another host name', async () => {
    const wrongName = await ca.issueServerCert(['handler.example']);
    const h = await startSampleHandler({ mode: 'public-key', tls: wrongName, cosignerPublicKeyPem: cosignerKey().publicKeyPem });
    try {
      await expect(
        client().ask({ id: USER, callback: { url: h.url, authMode: 'public-key', handlerPublicKeyPem: h.publicKeyPem } }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }),
      ).rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS' });
      expect(h.calls).toHaveLength(0);
    } finally {
      await h.close();
    }
  });
});

describe('plain http', () => {
  it('is refused outside local mode and allowed, with a warning, in local mode', async () => {
    const h = await startSampleHandler({ mode: 'public-key', cosignerPublicKeyPem: cosignerKey().publicKeyPem });
    try {
      const user = { id: USER, callback: { url: h.url, authMode: 'public-key' as const, handlerPublicKeyPem: h.publicKeyPem } };
      await expect(client().ask(user, 'tx_sign_request', signRequest(USER), { purpose: 'sign' })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
      expect(h.calls).toHaveLength(0);
      const { logger, records } = captureLogger();
      const d = await client({ localMode: true, logger }).ask(user, 'tx_sign_request', signRequest(USER), { purpose: 'sign' });
      expect(d.action).toBe('APPROVE');
      expect(records().some((r) => r.level === 40 && String(r.msg).includes('plain http'))).toBe(true);
    } finally {
      await h.close();
    }
  });
});

describe('certificate pinning mode', () => {
  const pinned = (certificatePem: string): CallbackSettings => ({ url: certHandler.url, authMode: 'certificate', certificatePem });

  it('APPROVEs with plain JSON on /tx_sign_request (no /v2)', async () => {
    const d = await client().ask({ id: USER, callback: pinned(serverCert.certPem) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' });
    expect(d.action).toBe('APPROVE');
    const call = certHandler.calls.at(-1)!;
    expect(call.path).toBe('/tx_sign_request');
    expect(JSON.parse(call.rawBody)).toEqual(signRequest(USER));
  });

  it('REJECTs and IGNOREs on /config_change_sign_request', async () => {
    const c = client();
    const user = { id: USER, callback: pinned(serverCert.certPem) };
    await expect(c.ask(user, 'tx_sign_request', signRequest(USER, { txId: 'b', requestId: 'b', amountStr: '2' }), { purpose: 'sign' }))
      .rejects.toMatchObject({ code: 'ERR_CALLBACK_REJECTED' });
    const d = await c.ask(user, 'config_change_sign_request', configRequest(USER, 'POLICY_CHANGE'), { purpose: 'approve' });
    expect(d.action).toBe('IGNORE');
    expect(certHandler.calls.at(-1)?.path).toBe('/config_change_sign_request');
  });

  it('rejects a handler whose key does not match the pin, before sending the request', async () => {
    const before = certHandler.calls.length;
    const other = await ca.issueServerCert(); // same names, same CA, different key
    await expect(client().ask({ id: USER, callback: pinned(other.certPem) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
      .rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS', details: { peerSpkiSha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(certHandler.calls.length).toBe(before);
  });

  it('hybrid public-key+certificate: JWS on /v2 over a pinned connection', async () => {
    const d = await client().ask(
      { id: USER, callback: { url: pkHandler.url, authMode: 'public-key+certificate', handlerPublicKeyPem: pkHandler.publicKeyPem, certificatePem: serverCert.certPem } },
      'tx_sign_request', signRequest(USER), { purpose: 'sign' },
    );
    expect(d.action).toBe('APPROVE');
    expect(pkHandler.calls.at(-1)).toMatchObject({ path: '/v2/tx_sign_request', verified: true });
  });
});

describe('root CA mode', () => {
  const rooted = (url: string, rootCaPem: string): CallbackSettings => ({ url, authMode: 'root-ca', rootCaPem });

  it('APPROVEs when the chain leads to the configured root, ignoring the client-wide trust store', async () => {
    const d = await client({ caPem: undefined }).ask({ id: USER, callback: rooted(certHandler.url, ca.certPem) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' });
    expect(d.action).toBe('APPROVE');
  });

  it('refuses a self-signed handler certificate', async () => {
    const { selfSignedCert } = await import('../../../local/local-ca.ts');
    const h = await startSampleHandler({ mode: 'certificate', tls: await selfSignedCert() });
    try {
      await expect(client().ask({ id: USER, callback: rooted(h.url, ca.certPem) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
        .rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS' });
      expect(h.calls).toHaveLength(0);
    } finally {
      await h.close();
    }
  });

  it('refuses an expired handler certificate', async () => {
    const day = 86_400_000;
    const h = await startSampleHandler({ mode: 'certificate', tls: await ca.issueServerCert(undefined, { notBefore: new Date(Date.now() - 10 * day), validityMs: day }) });
    try {
      await expect(client().ask({ id: USER, callback: rooted(h.url, ca.certPem) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
        .rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS' });
    } finally {
      await h.close();
    }
  });

  it('refuses a chain to a different root', async () => {
    const other = await createEphemeralCa('other root');
    await expect(client().ask({ id: USER, callback: rooted(certHandler.url, other.certPem) }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
      .rejects.toMatchObject({ code: 'ERR_CALLBACK_TLS' });
  });

  it('hybrid public-key+root-ca: JWS on /v2 over a rooted connection', async () => {
    const d = await client({ caPem: undefined }).ask(
      { id: USER, callback: { url: pkHandler.url, authMode: 'public-key+root-ca', handlerPublicKeyPem: pkHandler.publicKeyPem, rootCaPem: ca.certPem } },
      'config_change_sign_request', configRequest(USER), { purpose: 'approve' },
    );
    expect(d.action).toBe('APPROVE');
    expect(pkHandler.calls.at(-1)?.path).toBe('/v2/config_change_sign_request');
  });
});

describe('no handler configured', () => {
  it('approves on the co-signer checks alone, recorded as such', async () => {
    const { logger, records } = captureLogger();
    const d = await client({ logger }).ask({ id: USER }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' });
    expect(d).toMatchObject({ action: 'APPROVE', handler: false, attempts: 0 });
    expect(records().find((r) => r.event === 'callback.decision')).toMatchObject({ action: 'APPROVE', handler: false });
  });

  it('refuses a payload of the wrong kind, or a signing request without rawTx', async () => {
    await expect(client().ask({ id: USER }, 'config_change_sign_request', signRequest(USER), { purpose: 'approve' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(client().ask({ id: USER }, 'tx_sign_request', configRequest(USER), { purpose: 'approve' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const { rawTx: _drop, ...noRaw } = signRequest(USER);
    await expect(client().ask({ id: USER }, 'tx_sign_request', noRaw, { purpose: 'sign' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('refuses a request naming another user', async () => {
    await expect(client().ask({ id: 'someone-else' }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('through the parent', () => {
  it('TLS starts on the enclave side: the relayed bytes never hold the request, the answer or the payload', async () => {
    const rec = loopbackDial({ record: true });
    const req = signRequest(USER, { txId: 'canary-7f3a', requestId: 'canary-7f3a' });
    const d = await client({ dial: rec.dial }).ask({ id: USER, callback: pk() }, 'tx_sign_request', req, { purpose: 'sign' });
    expect(d.action).toBe('APPROVE');
    const wire = Buffer.concat(rec.recorded).toString('latin1');
    expect(wire.length).toBeGreaterThan(1000);
    for (const canary of ['canary-7f3a', 'tx_sign_request', 'APPROVE', '77b4e74099ce90c0', 'eyJ']) expect(wire).not.toContain(canary);
  });

  it('works over the egress relay, and a handler missing from the allow-list gets no request (ERR_CALLBACK_HTTP)', async () => {
    const port = Number(new URL(pkHandler.url).port);
    const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port }] }));
    const viaRelay = client({ dial: (h, p) => relay(h, p) });
    expect((await viaRelay.ask({ id: USER, callback: pk() }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' })).action).toBe('APPROVE');
    const denied = { ...pk(), url: `https://127.0.0.1:${port + 1 === 65536 ? 1 : port + 1}` };
    await expect(viaRelay.ask({ id: USER, callback: denied }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' }))
      .rejects.toMatchObject({ code: 'ERR_CALLBACK_HTTP', message: expect.stringContaining('ERR_EGRESS_DENIED') });
  });
});
