// Every body the enclave parses from the coordinator: arbitrary JSON gives a parsed value or a
// CosignerError, never another exception; bounds hold.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { backoffDelay } from '../../../enclave/upstream/backoff.ts';
import { parseApprovalRequest, parseAuditRecord, parseDkgRound1List, parseDkgRound2List, parsePairRegisterResult, parseSignCommit, parseSignShare } from '../../../proto/coordinator/messages.ts';

const parsers = [
  parseSignCommit,
  parseSignShare,
  parseApprovalRequest,
  parsePairRegisterResult,
  parseDkgRound1List,
  parseDkgRound2List,
  parseAuditRecord,
];

describe('coordinator body parsers', () => {
  it('throw only CosignerError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer({ min: 0, max: parsers.length - 1 }), (value, i) => {
        try {
          parsers[i]!(value);
        } catch (err) {
          expect(err).toBeInstanceOf(CosignerError);
        }
      }),
      { numRuns: 400, seed: 7 },
    );
  });

  it('reject unknown fields, oversized messages and too many signers', () => {
    const entry = { sessionId: 's', keyId: 'k', keyDerivationPath: '[ 44, 0, 0, 0, 0 ]', format: 'raw', rawTx: 'aa', payload: 'aa' };
    const body = { userId: 'u', signers: [1, 2], transaction: { txId: 't', asset: 'BTC', amountStr: '1', destAddress: 'd' }, rawTx: [entry] };
    const bad = (v: unknown) => expect(() => parseSignCommit(v)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(parseSignCommit(body).signers).toEqual([1, 2]);
    bad({ ...body, extra: 1 });
    bad({ ...body, transaction: { ...body.transaction, surprise: 1 } });
    bad({ ...body, transaction: { ...body.transaction, rawTx: [] } });
    bad({ ...body, rawTx: [{ ...entry, payload: 'aa'.repeat(2 * 1024 + 1) }] });
    bad({ ...body, rawTx: [{ ...entry, rawTx: 'aa'.repeat(16 * 1024 + 1) }] });
    bad({ ...body, rawTx: [{ ...entry, format: 'zcash' }] });
    bad({ ...body, rawTx: [{ ...entry, extra: 1 }] });
    bad({ ...body, rawTx: [] });
    bad({ ...body, rawTx: [entry, entry] });
    bad({ ...body, rawTx: Array.from({ length: 65 }, (_, i) => ({ ...entry, sessionId: `s${i}` })) });
    bad({ ...body, signers: Array.from({ length: 17 }, (_, i) => i + 1) });
    expect(() => parseSignShare({ sessionId: 's', keyId: 'k', messageDigest: 'zz', commitments: [] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('reconnect backoff', () => {
  it('grows exponentially, is capped, and keeps at least half the ceiling', () => {
    const o = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 50].map((n) => backoffDelay(n, 1, o))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(3, 0, o)).toBe(400);
    expect(backoffDelay(3, 7, o)).toBe(800); // out-of-range randomness is clamped
  });
});

describe('audit.record', () => {
  it('accepts the documented fields and refuses unknown ones, free text and oversized values', () => {
    const ok = { id: 'r-1', at: 1, kind: 'approval.sign', userId: 'alice', subjectId: 'tx-1', digest: 'ab'.repeat(32), decision: 'approve', code: 'ERR_CALLBACK_REJECTED', dropped: 3 };
    expect(parseAuditRecord(ok)).toEqual(ok);
    expect(parseAuditRecord({ at: 0, kind: 'user.activate' })).toEqual({ at: 0, kind: 'user.activate' });
    for (const bad of [{ ...ok, payload: 'ab' }, { ...ok, decision: 'free text here' }, { ...ok, digest: 'ab' }, { ...ok, code: 'nope' }, { ...ok, dropped: -1 }, { ...ok, kind: 'x'.repeat(65) }, { kind: 'k' }]) {
      expect(() => parseAuditRecord(bad)).toThrow(CosignerError);
    }
  });
});
