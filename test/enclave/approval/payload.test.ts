import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import {
  buildConfigChangeSignRequest, buildTxSignRequest, checkSignedMessagesMatch, payloadDigest, serializePayload, MAX_PAYLOAD_BYTES,
} from '../../../enclave/approval/payload.ts';
import { ethTx } from './helpers.ts';

const USER = 'u1';
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as CosignerError).code;
  }
};

describe('buildTxSignRequest', () => {
  it('keeps the published example intact at the signing stage and adds signerId', () => {
    const req = buildTxSignRequest(ethTx(), { signerId: USER, stage: 'sign' });
    const { ...expected } = ethTx();
    expect(req).toEqual({ ...expected, signerId: USER });
  });

  it('drops signing-stage fields at the approval stage', () => {
    const req = buildTxSignRequest(ethTx(), { signerId: USER, stage: 'approve' });
    expect(req.fee).toBeUndefined();
    expect(req.rawTx).toBeUndefined();
    expect(req.destinations?.[0]?.displayDstAddress).toBeUndefined();
  });

  it('serializes identically whatever order the coordinator used (stable digest)', () => {
    const a = buildTxSignRequest(ethTx(), { signerId: USER, stage: 'sign' });
    const reversed = Object.fromEntries(Object.entries(ethTx()).reverse());
    const b = buildTxSignRequest(reversed, { signerId: USER, stage: 'sign' });
    expect(serializePayload(b).equals(serializePayload(a))).toBe(true);
    expect(payloadDigest(a)).toBe(createHash('sha256').update(serializePayload(a)).digest('hex'));
  });

  it.each([
    ['an unknown field', { surprise: 1 }],
    ['a non-hex payload', { rawTx: [{ keyDerivationPath: '[ 44, 60, 0, 0, 0 ]', rawTx: '', payload: 'zz' }] }],
    ['an odd-length payload', { rawTx: [{ keyDerivationPath: '[ 44, 60, 0, 0, 0 ]', rawTx: '', payload: 'abc' }] }],
    ['a bad derivation path', { rawTx: [{ keyDerivationPath: '44/60', rawTx: '', payload: 'ab' }] }],
    ['no rawTx when signing', { rawTx: [] }],
    ['an operation that is not enum text', { operation: 'steal it' }],
    ['a requestId unrelated to txId', { requestId: 'other-tx' }],
    ['a requestId with a malformed batch suffix', { requestId: '9c794cee-7e27-46c9-9e9a-ed68295ff06b-01' }],
    ['a non-decimal amount', { amountStr: '1e9' }],
    ['a non-finite amount', { amount: Number.POSITIVE_INFINITY }],
    ['another signerId', { signerId: 'someone-else' }],
    ['control characters in a note', { note: 'a\u0000b' }],
    ['a missing txId', { txId: undefined }],
    ['too many destinations', { destinations: Array.from({ length: 65 }, () => ({})) }],
    ['deeply nested extraParameters', { extraParameters: { a: { b: { c: { d: { e: { f: 1 } } } } } } }],
    ['oversize extraParameters', { extraParameters: { blob: 'x'.repeat(20_000) } }],
  ])('refuses %s with ERR_INVALID_ARGUMENT', (_name, overrides) => {
    expect(code(() => buildTxSignRequest(ethTx(overrides), { signerId: USER, stage: 'sign' }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('passes an unknown but well-formed operation on (the handler decides) and keeps the requestId relation', () => {
    expect(buildTxSignRequest(ethTx({ operation: 'FUTURE_OPERATION' }), { signerId: USER, stage: 'sign' }).operation).toBe('FUTURE_OPERATION');
    const txId = '9c794cee-7e27-46c9-9e9a-ed68295ff06b';
    expect(buildTxSignRequest(ethTx({ requestId: `${txId}-2` }), { signerId: USER, stage: 'sign' }).requestId).toBe(`${txId}-2`);
    expect(buildTxSignRequest(ethTx({ requestId: undefined }), { signerId: USER, stage: 'sign' }).requestId).toBe(txId);
    expect(buildConfigChangeSignRequest({ requestId: 'c', type: 'FUTURE_CHANGE' }, { signerId: USER }).type).toBe('FUTURE_CHANGE');
  });

  it('refuses a request that would serialize above the payload cap', () => {
    const big = Array.from({ length: 64 }, () => ({ keyDerivationPath: '[ 44, 60, 0, 0, 0 ]', rawTx: 'ab'.repeat(2_000), payload: 'ab'.repeat(32) }));
    expect(code(() => buildTxSignRequest(ethTx({ rawTx: big }), { signerId: USER, stage: 'sign' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(MAX_PAYLOAD_BYTES).toBe(65_536);
  });

  it('never throws anything but a CosignerError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.anything(), fc.dictionary(fc.constantFrom('txId', 'rawTx', 'destinations', 'amount', 'players', 'extraParameters', 'x'), fc.anything()), (any, patch) => {
        for (const input of [any, { ...ethTx(), ...patch }]) {
          try {
            buildTxSignRequest(input, { signerId: USER, stage: 'sign' });
          } catch (e) {
            expect(e).toBeInstanceOf(CosignerError);
          }
        }
      }),
      { numRuns: 300, seed: 5 },
    );
  });
});

describe('buildConfigChangeSignRequest', () => {
  it('builds the documented shape', () => {
    const r = buildConfigChangeSignRequest({ requestId: 'c1', type: 'EXCHANGE', extraInfo: { subType: 'BINANCE', accountName: 'main', accountId: 'a1', apiKey: 'pub', addresses: '{}' } }, { signerId: USER });
    expect(r).toEqual({ requestId: 'c1', signerId: USER, type: 'EXCHANGE', extraInfo: { subType: 'BINANCE', accountName: 'main', accountId: 'a1', apiKey: 'pub', addresses: '{}' } });
  });

  it.each([
    ['a type that is not enum text', { requestId: 'c', type: 'drop tables' }],
    ['no requestId', { type: 'EXCHANGE' }],
    ['an unknown field', { requestId: 'c', type: 'EXCHANGE', more: 1 }],
    ['a non-object extraInfo', { requestId: 'c', type: 'EXCHANGE', extraInfo: [] }],
  ])('refuses %s', (_n, input) => {
    expect(code(() => buildConfigChangeSignRequest(input, { signerId: USER }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('checkSignedMessagesMatch', () => {
  const req = buildTxSignRequest(ethTx(), { signerId: USER, stage: 'sign' });
  const approved = { request: req, payloadDigest: payloadDigest(req) };
  const msg = '77b4e74099ce90c08503c0e0bb6e672dbe1c5e3e127ce333bf22eb581cd3f6ce';

  it('accepts exactly the approved payloads (hex or bytes)', () => {
    expect(() => checkSignedMessagesMatch(approved, [msg])).not.toThrow();
    expect(() => checkSignedMessagesMatch(approved, [Buffer.from(msg, 'hex')])).not.toThrow();
  });

  it.each([
    ['a different message', [msg.replace(/^77/, '78')]],
    ['an extra message', [msg, msg]],
    ['no message', []],
  ])('refuses %s', (_n, messages) => {
    expect(code(() => checkSignedMessagesMatch(approved, messages))).toBe('ERR_MESSAGE_MISMATCH');
  });

  it('refuses when the request changed after approval (digest binding)', () => {
    const changed = { ...req, rawTx: [{ ...req.rawTx![0]!, payload: 'ff'.repeat(32) }] };
    expect(code(() => checkSignedMessagesMatch({ request: changed, payloadDigest: approved.payloadDigest }, ['ff'.repeat(32)]))).toBe('ERR_MESSAGE_MISMATCH');
  });
});
