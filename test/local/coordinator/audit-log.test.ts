import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spkiB64 } from '../../../proto/coordinator/envelope.ts';
import { appendAudit, auditRecords } from '../../../local/coordinator/audit-log.ts';
import { createState } from '../../../local/coordinator/state.ts';
import { tempDir } from '../../support/temp-dir.ts';

const tls = { certPem: '', keyPem: '' };

function paired(dir?: string) {
  const st = createState({ tls, ...(dir ? { dir } : {}), now: () => 42 });
  const kp = generateKeyPairSync('ed25519');
  st.cosigners.set('cos-1', { key: spkiB64(kp.publicKey) });
  return { st, ctx: { cosignerId: 'cos-1', clientKey: kp.publicKey } };
}

describe('reference coordinator audit log', () => {
  it('keeps each record id once, attributed to the authenticated co-signer, in audit.jsonl and after a restart', async () => {
    const dir = tempDir('coord-audit-');
    const { st, ctx } = paired(dir);
    const rec = { id: 'run-1', at: 7, kind: 'approval.sign', subjectId: 'tx-1', decision: 'approve' };
    expect(appendAudit(st, ctx, rec)).toEqual({});
    expect(appendAudit(st, ctx, rec)).toEqual({}); // a resend after a lost reply
    appendAudit(st, ctx, { ...rec, id: 'run-2' });
    expect(auditRecords(st).map((r) => [r.id, r.cosignerId, r.receivedAt])).toEqual([['run-1', 'cos-1', 42], ['run-2', 'cos-1', 42]]);
    expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    // A restarted coordinator reads the file back and still de-duplicates.
    const again = paired(dir);
    again.st.cosigners.set('cos-1', { key: spkiB64(ctx.clientKey) });
    appendAudit(again.st, ctx, rec);
    expect(auditRecords(again.st).map((r) => r.id)).toEqual(['run-1', 'run-2']);
    await st.signer.close();
    await again.st.signer.close();
  });

  it('refuses records from an unpaired key and malformed records', async () => {
    const { st, ctx } = paired();
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(() => appendAudit(st, { cosignerId: 'cos-1', clientKey: other }, { at: 1, kind: 'k' })).toThrow(expect.objectContaining({ code: 'ERR_PERMISSION_DENIED' }));
    expect(() => appendAudit(st, ctx, { at: 1, kind: 'k', cosignerId: 'cos-2' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(auditRecords(st)).toEqual([]);
    await st.signer.close();
  });
});
