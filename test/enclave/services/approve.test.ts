import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { CosignerError } from '../../../proto/errors.ts';
import { createApprove, txInput } from '../../../enclave/services/approve.ts';
import type { CallbackClient } from '../../../enclave/approval/callback-client.ts';
import { payloadDigest, serializePayload, type TxSignRequest, type ConfigChangeSignRequest } from '../../../enclave/approval/payload.ts';
import { approvalDigest, type SignApprovalRequest } from '../../../enclave/upstream/client.ts';
import type { ApiUserRecord } from '../../../enclave/vault/records.ts';

const user: ApiUserRecord = { id: 'alice', workspace: 'w', createdAt: 0, status: 'active', approvalKeyPkcs8: '', keyShares: [] };
const payload = 'ab'.repeat(32);
const entry = { keyDerivationPath: '[ ]', rawTx: payload, payload, sessionId: 's-1', keyId: 'k-1', format: 'raw', publicKey: 'cd'.repeat(32) };
const signReq: SignApprovalRequest = {
  requestId: 'req-1', kind: 'sign', userId: 'alice', txId: 'tx-1', signers: [1, 2], rawTx: [entry],
  payload: { txId: 'tx-1', asset: 'ETH', amountStr: '1.5', requestedAmountStr: '1.5', destAddress: '0xabc' },
};

type Ask = CallbackClient['ask'];
function client(ask: Ask): CallbackClient {
  return { ask } as unknown as CallbackClient;
}
const logger = pino({ level: 'silent' });
const approveWith = (r: { action: 'APPROVE' | 'IGNORE'; tamper?: boolean }): Ask =>
  (async (_u, _k, p: TxSignRequest | ConfigChangeSignRequest) => ({
    action: r.action,
    handler: true,
    attempts: 1,
    latencyMs: 1,
    payloadDigest: r.tamper ? 'ff'.repeat(32) : payloadDigest(serializePayload(p)),
  })) as Ask;

describe('approval glue', () => {
  it('gives the handler the coordinator description and each entry path, rawTx, payload and format (not session or key ids)', () => {
    expect(txInput(signReq, 'sign')).toEqual({
      txId: 'tx-1', asset: 'ETH', amountStr: '1.5', requestedAmountStr: '1.5', destAddress: '0xabc',
      rawTx: [{ keyDerivationPath: '[ ]', rawTx: payload, payload, format: 'raw' }],
    });
    const approval = txInput({ requestId: 'r2', kind: 'transaction', userId: 'alice', txId: 't2', rawTx: [], payload: { txId: 't2', asset: 'BTC', amountStr: '2' } }, 'approve');
    expect(approval).toEqual({ txId: 't2', asset: 'BTC', amountStr: '2' });
  });

  it('an unknown operation or configuration type reaches the handler; without a handler it is a policy refusal', async () => {
    const asked: unknown[] = [];
    const record: Ask = (async (...a: Parameters<Ask>) => (asked.push(a[2]), approveWith({ action: 'APPROVE' })(...a))) as Ask;
    const withHandler = { ...user, callback: { url: 'https://h.example', authMode: 'public-key' } } as unknown as ApiUserRecord;
    const op = { ...signReq, payload: { ...signReq.payload, operation: 'FUTURE_OPERATION' } };
    const cfg: SignApprovalRequest = { requestId: 'r5', kind: 'config', userId: 'alice', txId: 'c5', rawTx: [], payload: { type: 'FUTURE_CHANGE', extraInfo: {} } };
    expect((await createApprove({ callback: client(record), logger })(withHandler, op)).approved).toBe(true);
    expect((await createApprove({ callback: client(record), logger })(withHandler, cfg)).approved).toBe(true);
    expect(asked).toMatchObject([{ operation: 'FUTURE_OPERATION' }, { type: 'FUTURE_CHANGE', requestId: 'c5' }]);
    await expect(createApprove({ callback: client(record), logger })(user, op)).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    const refused = await createApprove({ callback: client(record), logger })(user, cfg);
    expect(refused.approved).toBe(false);
    expect(refused.reason).toMatch(/^ERR_POLICY_DENIED/);
    expect(asked).toHaveLength(2);
  });

  it('approves a signing request only when the handler approved exactly the payload to sign', async () => {
    const ok = await createApprove({ callback: client(approveWith({ action: 'APPROVE' })), logger })(user, signReq);
    expect(ok).toEqual({ approved: true, payloadDigest: approvalDigest(signReq) });
    await expect(createApprove({ callback: client(approveWith({ action: 'APPROVE', tamper: true })), logger })(user, signReq)).rejects.toMatchObject({ code: 'ERR_MESSAGE_MISMATCH' });
    await expect(createApprove({ callback: client(approveWith({ action: 'IGNORE' })), logger })(user, signReq)).rejects.toMatchObject({ code: 'ERR_CALLBACK_IGNORED' });
  });

  it('a refused signing request throws the precise code; nothing is signed', async () => {
    const reject: Ask = async () => {
      throw new CosignerError('ERR_CALLBACK_REJECTED', 'no', { details: { reason: 'limit' } });
    };
    await expect(createApprove({ callback: client(reject), logger })(user, signReq)).rejects.toMatchObject({ code: 'ERR_CALLBACK_REJECTED' });
    const timeout: Ask = async () => {
      throw new CosignerError('ERR_CALLBACK_TIMEOUT', 'slow');
    };
    await expect(createApprove({ callback: client(timeout), logger })(user, signReq)).rejects.toMatchObject({ code: 'ERR_CALLBACK_TIMEOUT' });
  });

  it('the enclave checks run before the handler is asked', async () => {
    let asked = 0;
    const count: Ask = (async (...a: Parameters<Ask>) => {
      asked++;
      return approveWith({ action: 'APPROVE' })(...a);
    }) as Ask;
    const approve = createApprove({ callback: client(count), logger });
    await expect(approve({ ...user, status: 'pending' }, signReq)).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    await expect(approve(user, { ...signReq, userId: 'mallory' })).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    await expect(approve(user, { ...signReq, rawTx: [{ ...entry, payload: 'zz' }] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(asked).toBe(0);
  });

  it('an approval request that fails returns a reasoned refusal instead of approving', async () => {
    const reject: Ask = async () => {
      throw new CosignerError('ERR_CALLBACK_REJECTED', 'no', { details: { reason: 'amount above limit' } });
    };
    const req: SignApprovalRequest = { requestId: 'r3', kind: 'transaction', userId: 'alice', txId: 't3', rawTx: [], payload: { txId: 't3', asset: 'ETH', amountStr: '50', destAddress: '0xabc' } };
    const d = await createApprove({ callback: client(reject), logger })(user, req);
    expect(d).toEqual({ approved: false, payloadDigest: approvalDigest(req), reason: 'ERR_CALLBACK_REJECTED: amount above limit' });
    const ignored = await createApprove({ callback: client(approveWith({ action: 'IGNORE' })), logger })(user, req);
    expect(ignored.approved).toBe(false);
    const cfg: SignApprovalRequest = { requestId: 'r4', kind: 'config', userId: 'alice', txId: 'c4', rawTx: [], payload: { type: 'ADD_USER', extraInfo: { a: 1 } } };
    expect((await createApprove({ callback: client(approveWith({ action: 'APPROVE' })), logger })(user, cfg)).approved).toBe(true);
  });
});

describe('approval decisions in the coordinator\'s audit log', () => {
  it('records approvals, handler refusals and policy refusals with code and digest, never the payload', async () => {
    const seen: Record<string, unknown>[] = [];
    const audit = (r: Record<string, unknown>) => void seen.push(r);
    await createApprove({ callback: client(approveWith({ action: 'APPROVE' })), logger, audit })(user, signReq);
    const reject: Ask = (async () => {
      throw new CosignerError('ERR_CALLBACK_REJECTED', 'no');
    }) as Ask;
    const req: SignApprovalRequest = { requestId: 'r3', kind: 'transaction', userId: 'alice', txId: 't3', rawTx: [], payload: { txId: 't3', asset: 'BTC', amountStr: '1', destAddress: 'bc1q' } };
    await createApprove({ callback: client(reject), logger, audit })(user, req);
    await expect(createApprove({ callback: client(approveWith({ action: 'APPROVE', tamper: true })), logger, audit })(user, signReq)).rejects.toMatchObject({ code: 'ERR_MESSAGE_MISMATCH' });
    expect(seen).toEqual([
      { kind: 'approval.sign', userId: 'alice', subjectId: 'tx-1', digest: approvalDigest(signReq), decision: 'approve' },
      { kind: 'approval.transaction', userId: 'alice', subjectId: 't3', digest: approvalDigest(req), decision: 'reject', code: 'ERR_CALLBACK_REJECTED' },
      { kind: 'approval.sign', userId: 'alice', subjectId: 'tx-1', digest: approvalDigest(signReq), decision: 'reject', code: 'ERR_MESSAGE_MISMATCH' },
    ]);
    expect(JSON.stringify(seen)).not.toContain(payload);
  });
});
