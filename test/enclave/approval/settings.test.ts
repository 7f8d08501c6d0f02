import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyCallbackUpdate, parseEndpoint, requestPath, retrySchedule, validateCallbackSettings } from '../../../enclave/approval/settings.ts';
import type { CallbackSettings } from '../../../enclave/vault/records.ts';
import { createEphemeralCa, type LocalCa } from '../../../local/local-ca.ts';

const rsaPem = (bits = 2048): string => generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
let keyA: string;
let keyB: string;
let ca: LocalCa;
let certA: string;
let certB: string;

beforeAll(async () => {
  keyA = rsaPem();
  keyB = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  ca = await createEphemeralCa();
  certA = (await ca.issueServerCert()).certPem;
  certB = (await ca.issueServerCert()).certPem;
});

const err = (fn: () => unknown): { code?: string; message?: string } => {
  try {
    fn();
    return {};
  } catch (e) {
    return e as { code: string; message: string };
  }
};

describe('validateCallbackSettings', () => {
  it('accepts each mode with its material', () => {
    const ok: CallbackSettings[] = [
      { url: 'https://h.example/cb', authMode: 'public-key', handlerPublicKeyPem: keyA },
      { url: 'https://h.example', authMode: 'certificate', certificatePem: certA },
      { url: 'https://h.example', authMode: 'root-ca', rootCaPem: ca.certPem },
      { url: 'https://[::1]:8443', authMode: 'public-key+certificate', handlerPublicKeyPem: keyB, certificatePem: certA },
      { url: 'https://10.0.0.1', authMode: 'public-key+root-ca', handlerPublicKeyPem: keyA, rootCaPem: ca.certPem, retryIntervalMs: 60_000, retryTotalMs: 3_600_000 },
    ];
    for (const s of ok) expect(() => validateCallbackSettings(s, { localMode: false })).not.toThrow();
  });

  it.each([
    ['http outside local mode', { url: 'http://h.example', authMode: 'public-key', handlerPublicKeyPem: 'K' }],
    ['an ftp URL', { url: 'ftp://h.example', authMode: 'public-key', handlerPublicKeyPem: 'K' }],
    ['credentials in the URL', { url: 'https://u:p@h.example', authMode: 'public-key', handlerPublicKeyPem: 'K' }],
    ['a query string', { url: 'https://h.example/?x=1', authMode: 'public-key', handlerPublicKeyPem: 'K' }],
    ['a missing key in public-key mode', { url: 'https://h.example', authMode: 'public-key' }],
    ['a key in certificate mode', { url: 'https://h.example', authMode: 'certificate', certificatePem: 'C', handlerPublicKeyPem: 'K' }],
    ['a missing certificate', { url: 'https://h.example', authMode: 'certificate' }],
    ['a leaf as root CA', { url: 'https://h.example', authMode: 'root-ca', rootCaPem: 'LEAF' }],
    ['garbage PEM', { url: 'https://h.example', authMode: 'public-key', handlerPublicKeyPem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }],
    ['a 1024-bit RSA key', { url: 'https://h.example', authMode: 'public-key', handlerPublicKeyPem: 'SMALL' }],
    ['an unknown mode', { url: 'https://h.example', authMode: 'magic' }],
    ['a too short retry interval', { url: 'https://h.example', authMode: 'public-key', handlerPublicKeyPem: 'K', retryIntervalMs: 1000 }],
    ['a retry total above 48 h', { url: 'https://h.example', authMode: 'public-key', handlerPublicKeyPem: 'K', retryTotalMs: 49 * 3_600_000 }],
  ])('refuses %s (ERR_CONFIG_INVALID)', (_n, raw) => {
    const s = JSON.parse(JSON.stringify(raw).replaceAll('"K"', JSON.stringify(keyA)).replaceAll('"C"', JSON.stringify(certA)).replaceAll('"LEAF"', JSON.stringify(certA))
      .replaceAll('"SMALL"', JSON.stringify(rsaPem(1024)))) as CallbackSettings;
    expect(err(() => validateCallbackSettings(s, { localMode: false })).code).toBe('ERR_CONFIG_INVALID');
  });

  it('allows plain http in local mode for public-key mode only', () => {
    expect(() => validateCallbackSettings({ url: 'http://127.0.0.1:9000', authMode: 'public-key', handlerPublicKeyPem: keyA }, { localMode: true })).not.toThrow();
    expect(err(() => validateCallbackSettings({ url: 'http://127.0.0.1:9000', authMode: 'certificate', certificatePem: certA }, { localMode: true })).code).toBe('ERR_CONFIG_INVALID');
  });
});

describe('paths and endpoints', () => {
  it('uses /v2 only in JWT modes', () => {
    expect(requestPath('public-key', 'tx_sign_request')).toBe('/v2/tx_sign_request');
    expect(requestPath('public-key+root-ca', 'config_change_sign_request')).toBe('/v2/config_change_sign_request');
    expect(requestPath('certificate', 'tx_sign_request')).toBe('/tx_sign_request');
    expect(requestPath('root-ca', 'config_change_sign_request')).toBe('/config_change_sign_request');
  });

  it('parses base paths and default ports', () => {
    expect(parseEndpoint('https://h.example/callbacks/', { localMode: false })).toEqual({ secure: true, host: 'h.example', port: 443, basePath: '/callbacks' });
    expect(parseEndpoint('https://[::1]:8443', { localMode: false })).toEqual({ secure: true, host: '::1', port: 8443, basePath: '' });
  });

  it('defaults the retry schedule to 3 min × 20', () => {
    expect(retrySchedule(undefined)).toEqual({ intervalMs: 180_000, totalMs: 3_600_000 });
  });
});

describe('applyCallbackUpdate', () => {
  const base = (): CallbackSettings => ({ url: 'https://h.example', authMode: 'public-key', handlerPublicKeyPem: keyA });

  it('allows a URL change without confirmation', () => {
    const r = applyCallbackUpdate(base(), { ...base(), url: 'https://h2.example' }, { confirmed: false, userId: 'u1' });
    expect(r.changed).toEqual(['url']);
    expect(r.settings?.url).toBe('https://h2.example');
    expect(r.audit).toMatchObject({ event: 'callback.settings.changed', userId: 'u1', confirmed: false, before: { url: 'https://h.example' }, after: { url: 'https://h2.example' } });
  });

  it.each([
    ['the handler key', (): CallbackSettings => ({ ...base(), handlerPublicKeyPem: keyB })],
    ['the auth mode', (): CallbackSettings => ({ url: 'https://h.example', authMode: 'certificate', certificatePem: certA })],
    ['the handler (removal)', (): CallbackSettings | undefined => undefined],
  ])('refuses to change %s without confirmation, with a message saying how', (_n, next) => {
    const e = err(() => applyCallbackUpdate(base(), next(), { confirmed: false }));
    expect(e.code).toBe('ERR_PERMISSION_DENIED');
    expect(e.message).toContain('--confirm');
  });

  it('changes the pinned certificate with confirmation and records fingerprints, never PEMs', () => {
    const cur: CallbackSettings = { url: 'https://h.example', authMode: 'certificate', certificatePem: certA };
    expect(err(() => applyCallbackUpdate(cur, { ...cur, certificatePem: certB }, { confirmed: false })).code).toBe('ERR_PERMISSION_DENIED');
    const r = applyCallbackUpdate(cur, { ...cur, certificatePem: certB }, { confirmed: true, userId: 'u1' });
    expect(r.changed).toEqual(['certificateSpkiSha256']);
    expect(r.audit.before?.certificateSpkiSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.audit.before?.certificateSpkiSha256).not.toBe(r.audit.after?.certificateSpkiSha256);
    expect(JSON.stringify(r.audit)).not.toContain('BEGIN');
  });

  it('adding a handler to a user without one needs no confirmation (it only tightens)', () => {
    expect(applyCallbackUpdate(undefined, base(), { confirmed: false }).changed).toContain('handlerKeySha256');
  });

  it('validates the new settings', () => {
    expect(err(() => applyCallbackUpdate(base(), { ...base(), url: 'ftp://x' }, { confirmed: true })).code).toBe('ERR_CONFIG_INVALID');
  });
});
