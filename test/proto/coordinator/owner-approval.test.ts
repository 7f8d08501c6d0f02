import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ownerApprovalBytes, ownerKeyFingerprint, signOwnerApproval, verifyOwnerApproval, type OwnerApprovalStatement } from '../../../proto/coordinator/owner-approval.ts';

const owner = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const statement: OwnerApprovalStatement = {
  cosignerId: 'cs-1',
  changeId: 'chg-1',
  kind: 'callback.update',
  subjectId: 'user-1',
  digest: 'ab'.repeat(32),
  expiresAt: 1_800_000_000_000,
  decision: 'approve',
};

describe('owner approval statements', () => {
  it('verifies a statement signed by the owner key', () => {
    const sig = signOwnerApproval(owner.privateKey, statement);
    expect(verifyOwnerApproval(owner.publicKey, statement, sig)).toBe(true);
  });

  it('refuses another key, and any changed field', () => {
    const sig = signOwnerApproval(owner.privateKey, statement);
    expect(verifyOwnerApproval(other.publicKey, statement, sig)).toBe(false);
    const changed: OwnerApprovalStatement[] = [
      { ...statement, cosignerId: 'cs-2' },
      { ...statement, changeId: 'chg-2' },
      { ...statement, kind: 'user.remove' },
      { ...statement, subjectId: 'user-2' },
      { ...statement, digest: 'cd'.repeat(32) },
      { ...statement, expiresAt: statement.expiresAt + 1 },
      { ...statement, decision: 'reject' },
    ];
    for (const s of changed) expect(verifyOwnerApproval(owner.publicKey, s, sig)).toBe(false);
  });

  it('refuses malformed signatures without throwing', () => {
    for (const bad of ['', 'x', 'A'.repeat(88), 'A'.repeat(4096), 42 as unknown as string]) {
      expect(verifyOwnerApproval(owner.publicKey, statement, bad)).toBe(false);
    }
  });

  it('length-prefixes every field, so moving bytes between fields changes the signed bytes', () => {
    const a = ownerApprovalBytes({ ...statement, changeId: 'ab', subjectId: 'c' });
    const b = ownerApprovalBytes({ ...statement, changeId: 'a', subjectId: 'bc' });
    expect(a.equals(b)).toBe(false);
  });

  it('names the owner key by the SHA-256 of its SPKI', () => {
    const fp = ownerKeyFingerprint(owner.publicKey);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(ownerKeyFingerprint(owner.publicKey.export({ type: 'spki', format: 'pem' }) as string)).toBe(fp);
    expect(ownerKeyFingerprint(other.publicKey)).not.toBe(fp);
  });
});
