// Reference coordinator (test stand-in). What both signing paths (FROST, tx-sign.ts; threshold
// ECDSA, ecdsa-tx-sign.ts) build the same way: the coordinator's own shares derived for an entry's
// path, and the one `sign.commit` request that names every entry of a transaction.
import { CosignerError } from '../../proto/errors.ts';
import type { PeerConnection } from '../../proto/coordinator/connection.ts';
import type { SignCommitResult } from '../../proto/coordinator/messages.ts';
import { deriveKeyShare, parseDerivationPath, type DerivedKey } from '../../enclave/mpc/derivation.ts';
import type { TransactionEntry, TransactionRecord, UserEntry, UserKey } from './state.ts';

/** The coordinator's own shares among `signers`, derived at the entry's path (the first one names the key). */
export function ownSharesFor(ukey: UserKey, signers: readonly number[], e: TransactionEntry): { own: DerivedKey[]; first: DerivedKey } {
  const path = parseDerivationPath(e.keyDerivationPath);
  const own = ukey.own.filter((k) => signers.includes(k.identifier)).map((k) => deriveKeyShare(k, path));
  const first = own[0];
  if (!first) throw new CosignerError('ERR_INVALID_ARGUMENT', 'no own key share signs');
  return { own, first };
}

/** Sends the transaction's `sign.commit` (one session per entry); the reply is awaited by the caller. */
export function requestSignCommit(conn: PeerConnection, user: UserEntry, ukey: UserKey, tx: TransactionRecord, signers: readonly number[], jobs: readonly { sessionId: string; e: TransactionEntry }[]): Promise<SignCommitResult> {
  return conn.request('sign.commit', {
    userId: user.id,
    signers,
    transaction: tx.request,
    rawTx: jobs.map((j) => ({ sessionId: j.sessionId, keyId: ukey.keyId, keyDerivationPath: j.e.keyDerivationPath, format: j.e.format, rawTx: j.e.rawTx, payload: j.e.payload })),
  }) as Promise<SignCommitResult>;
}
