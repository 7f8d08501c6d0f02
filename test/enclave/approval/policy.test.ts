import { describe, expect, it } from 'vitest';
import type pino from 'pino';
import { checkConfigChangeRequest, checkTxRequest } from '../../../enclave/approval/policy.ts';
import { recordDecision, cleanReason, MAX_REASON_CHARS } from '../../../enclave/approval/audit.ts';
import type { ApiUserRecord } from '../../../enclave/vault/records.ts';
import { captureLogger, ethTx } from './helpers.ts';

const user = (status: 'active' | 'pending' = 'active'): ApiUserRecord => ({ id: 'u1', workspace: 'w', createdAt: 0, status, approvalKeyPkcs8: '00', keyShares: [] });
const msg = '77b4e74099ce90c08503c0e0bb6e672dbe1c5e3e127ce333bf22eb581cd3f6ce';

describe('policy', () => {
  it('passes a well-formed signing request whose messages are its rawTx payloads', () => {
    const r = checkTxRequest(user(), { userId: 'u1', stage: 'sign', tx: ethTx(), messagesToSign: [msg] });
    expect(r.payload.signerId).toBe('u1');
  });

  it('refuses unknown and pending users', () => {
    expect(() => checkTxRequest(undefined, { userId: 'u1', stage: 'approve', tx: ethTx() })).toThrow(expect.objectContaining({ code: 'ERR_POLICY_DENIED' }));
    expect(() => checkTxRequest(user('pending'), { userId: 'u1', stage: 'approve', tx: ethTx() })).toThrow(expect.objectContaining({ code: 'ERR_POLICY_DENIED' }));
    expect(() => checkConfigChangeRequest(user(), { userId: 'u2', change: { requestId: 'c', type: 'EXCHANGE' } })).toThrow(expect.objectContaining({ code: 'ERR_POLICY_DENIED' }));
  });

  it('refuses a signing request whose messages differ from what the handler will see', () => {
    expect(() => checkTxRequest(user(), { userId: 'u1', stage: 'sign', tx: ethTx(), messagesToSign: ['00'.repeat(32)] })).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_MISMATCH' }));
    expect(() => checkTxRequest(user(), { userId: 'u1', stage: 'sign', tx: ethTx() })).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_MISMATCH' }));
  });

  it('refuses malformed requests', () => {
    expect(() => checkTxRequest(user(), { userId: 'u1', stage: 'approve', tx: { txId: 1 } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(checkConfigChangeRequest(user(), { userId: 'u1', change: { requestId: 'c', type: 'EXCHANGE' } }).payload.extraInfo).toEqual({});
  });
});

describe('audit', () => {
  it('writes one structured record and bounds and flattens the untrusted reason', () => {
    const { logger, records } = captureLogger();
    recordDecision(logger, { requestId: 'r', userId: 'u1', kind: 'tx_sign_request', purpose: 'sign', action: 'REJECT', handler: true, reason: `line1\nline2${'x'.repeat(2000)}`, attempts: 2, latencyMs: 5, payloadDigest: 'ab' });
    const [rec] = records();
    expect(rec).toMatchObject({ audit: true, event: 'callback.decision', requestId: 'r', userId: 'u1', action: 'REJECT', attempts: 2, latencyMs: 5 });
    expect(String(rec?.reason)).not.toContain('\n');
    expect(String(rec?.reason).length).toBeLessThanOrEqual(MAX_REASON_CHARS + 1);
    expect(cleanReason(42)).toBeUndefined();
    expect(() => recordDecision(undefined as unknown as pino.Logger, { requestId: 'r', userId: 'u', kind: 'tx_sign_request', purpose: 'sign', action: 'FAIL', handler: true, attempts: 0, latencyMs: 0, payloadDigest: '' })).not.toThrow();
  });
});
