// Runs in the enclave. The contract between the coordinator client and the approval step (enclave/
// services/approve.ts wires the Callback Handler and the enclave policy behind it): what is asked,
// and the digest that binds the answer to exactly that question.
import type { ApiUserRecord } from '../vault/records.ts';
import { canonicalDigest } from '../../proto/coordinator/approval-signature.ts';

/**
 * One message of a signing request. The handler is shown `keyDerivationPath`, `rawTx` and
 * `payload`; the rest binds the approval to the session, the derived key and the format the enclave
 * checked `payload` against (all of it is inside the approval digest).
 */
export interface ApprovalRawTx {
  readonly keyDerivationPath: string;
  readonly rawTx: string;
  readonly payload: string;
  readonly sessionId?: string;
  /** The derived key id the session binds to. */
  readonly keyId?: string;
  readonly format?: string;
  /** The derived key as a standard verifier takes it, hex. */
  readonly publicKey?: string;
}

/** What the approval step is asked (a sign request signs exactly its rawTx payloads). */
export interface SignApprovalRequest {
  /** The coordinator's request id (audit correlation; the handler's requestId is in `payload`). */
  readonly requestId: string;
  readonly kind: 'sign' | 'transaction' | 'config';
  readonly userId: string;
  /** The transaction id, or the configuration change's subject id. */
  readonly txId: string;
  /** `sign`: the signer set the sessions will bind to. */
  readonly signers?: readonly number[];
  /** `sign` only: the messages to sign. */
  readonly rawTx: readonly ApprovalRawTx[];
  /**
   * `sign` and `transaction`: the handler-facing transaction description (published field names,
   * no rawTx / signerId); `config`: `{ type, extraInfo }`.
   */
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
