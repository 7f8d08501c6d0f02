// Reference coordinator (test stand-in, loopback only). The owner's side of pairing: the summary the
// co-signer reports at the end of pairing (what the owner is shown and approves), and the owner
// stand-in's signature over it that user.activate carries. A real deployment signs on the owner's
// own device; the co-signer verifies with the owner key it sealed at setup.
import { randomUUID, type KeyObject } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { canonicalDigest } from '../../proto/coordinator/approval-signature.ts';
import { signOwnerApproval } from '../../proto/coordinator/owner-approval.ts';

/** How long an owner approval stays valid. */
const APPROVAL_TTL_MS = 10 * 60_000;

/** The pairing summary as the co-signer reported it (enclave/upstream/pairing-summary.ts). */
export interface PairingSummaryView {
  readonly userId: string;
  readonly workspace: string;
  readonly cosignerId: string;
  readonly keys: readonly { keyId: string; scheme: string; groupPublicKey: string; threshold: number; participants: readonly number[] }[];
  readonly callback: Record<string, string | null> | null;
}

/** Bounded shape check of a reported summary (the owner is shown it; the enclave re-derives it). */
export function parseSummary(v: unknown): PairingSummaryView {
  const bad = (): never => {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'pair.summary: bad summary');
  };
  if (typeof v !== 'object' || v === null || JSON.stringify(v).length > 8192) bad();
  const s = v as PairingSummaryView;
  if (typeof s.userId !== 'string' || typeof s.workspace !== 'string' || typeof s.cosignerId !== 'string' || !Array.isArray(s.keys) || s.keys.length > 4) bad();
  if (s.callback !== null && (typeof s.callback !== 'object' || typeof s.callback.url !== 'string')) bad();
  return s;
}

/** The owner stand-in approves the user's pairing summary: the body of `user.activate`. */
export function ownerSignsActivation(ownerKey: KeyObject, user: { readonly id: string; readonly cosignerId: string; readonly summary?: PairingSummaryView | undefined }, now: number): Record<string, unknown> {
  if (!user.summary) throw new CosignerError('ERR_USER_PENDING', 'the co-signer has not reported this pairing yet');
  const changeId = randomUUID();
  const expiresAt = now + APPROVAL_TTL_MS;
  const signature = signOwnerApproval(ownerKey, {
    cosignerId: user.cosignerId,
    changeId,
    kind: 'user.activate',
    subjectId: user.id,
    digest: canonicalDigest(user.summary),
    expiresAt,
    decision: 'approve',
  });
  return { userId: user.id, changeId, expiresAt, signature };
}
