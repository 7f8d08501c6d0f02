// Runs in the enclave. The contract between the coordinator client and the approval step (enclave/
// services/approve.ts wires the Callback Handler and the enclave policy behind it): what is asked,
// and the digest that binds the answer to exactly that question.
import type { ApiUserRecord, ThresholdScheme } from '../vault/records.ts';
import { canonicalDigest } from '../../proto/coordinator/approval-signature.ts';

/** What the Callback Handler is asked about a sign request (rawTx payloads are what gets signed). */
export interface SignApprovalRequest {
  readonly requestId: string;
  readonly kind: 'sign' | 'transaction' | 'config';
  readonly userId: string;
  readonly txId: string;
  readonly asset?: string;
  readonly amount?: string;
  readonly destination?: string;
  readonly note?: string;
  readonly scheme?: ThresholdScheme;
  readonly keyId?: string;
  readonly rawTx: readonly { readonly payload: string }[];
  /** Config changes and transaction approvals carry the coordinator's payload here. */
  readonly payload?: Readonly<Record<string, unknown>>;
}

/** Decision of the approval step; `payloadDigest` = approvalDigest(request) of what was approved. */
export interface ApprovalDecision {
  readonly approved: boolean;
  readonly payloadDigest: string;
  readonly reason?: string;
}

/** The injected approval step (Callback Handler + enclave policy). */
export type ApproveFn = (user: ApiUserRecord, request: SignApprovalRequest) => Promise<ApprovalDecision>;

/** The digest an approval must carry for `request`: SHA-256 over its canonical JSON. */
export function approvalDigest(request: SignApprovalRequest): string {
  return canonicalDigest(request);
}
