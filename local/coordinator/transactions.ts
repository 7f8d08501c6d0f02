// Reference coordinator (test stand-in, loopback only). A transaction: validated, checked against
// the Transaction Authorization Policy, approved by the co-signer's user when the policy asks, then
// signed with the co-signer (FROST / threshold Schnorr rounds), aggregated and verified.
import { randomUUID } from 'node:crypto';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { messageDigest, type WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { isThresholdScheme } from '../../enclave/mpc/suites.ts';
import { canonicalDigest, verifyApproval } from '../../proto/coordinator/approval-signature.ts';
import type { PeerConnection } from '../../proto/coordinator/connection.ts';
import type { ThresholdScheme } from '../../enclave/vault/records.ts';
import { evaluatePolicy } from './policy.ts';
import type { AggregateResult } from './signer-core.ts';
import { connFor, type CoordinatorState, type TimingBreakdown, type TransactionRecord, type UserEntry, type UserKey } from './state.ts';

/** Validate a transaction request into a pending record (not yet stored). */
function parseTransaction(st: CoordinatorState, input: unknown): { tx: TransactionRecord; user: UserEntry; ukey: UserKey } {
  const i = (input ?? {}) as Record<string, unknown>;
  const user = st.users.get(String(i.userId));
  if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
  const scheme = (i.scheme ?? 'frost-ed25519') as ThresholdScheme;
  if (!isThresholdScheme(scheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'bad scheme');
  const ukey = user.keys.find((k) => k.scheme === scheme);
  if (!ukey) throw new CosignerError('ERR_NOT_FOUND', 'user has no key for this scheme');
  const str = (v: unknown, name: string, re: RegExp): string => {
    if (typeof v !== 'string' || !re.test(v)) throw new CosignerError('ERR_INVALID_ARGUMENT', `bad ${name}`);
    return v;
  };
  const tx: TransactionRecord = {
    id: randomUUID(),
    userId: user.id,
    asset: str(i.asset, 'asset', /^[A-Za-z0-9._-]{1,32}$/),
    amount: str(i.amount, 'amount', /^[0-9]{1,30}(\.[0-9]{1,18})?$/),
    destination: str(i.destination, 'destination', /^[A-Za-z0-9:._-]{1,128}$/),
    scheme,
    payload: str(i.payload, 'payload', /^(?:[0-9a-f]{2}){1,65536}$/),
    status: 'pending',
  };
  return { tx, user, ukey };
}

/** Ask the co-signer's user to approve; true when approved (the signed answer is verified). */
async function requestApproval(conn: PeerConnection, user: UserEntry, tx: TransactionRecord): Promise<boolean> {
  const payload = { txId: tx.id, asset: tx.asset, amount: tx.amount, destination: tx.destination, scheme: tx.scheme, payload: tx.payload };
  const r = (await conn.request('approval.request', { userId: user.id, kind: 'transaction', subjectId: tx.id, payload })) as { decision?: string; payloadDigest?: string; signature?: string };
  const payloadDigest = canonicalDigest(payload);
  const decisionWord = r?.decision === 'approve' ? 'approve' : 'reject';
  const ok = typeof r?.signature === 'string' && r.payloadDigest === payloadDigest && verifyApproval(user.approvalPublicKey, { kind: 'transaction', userId: user.id, subjectId: tx.id, payloadDigest, decision: decisionWord }, r.signature);
  if (!ok) throw new CosignerError('ERR_COORDINATOR_AUTH', 'co-signer approval signature does not verify');
  tx.approval = { decision: decisionWord, signature: r.signature as string };
  return decisionWord === 'approve';
}

/** The two signing rounds with the co-signer, overlapped with the coordinator's own shares. */
async function signRounds(st: CoordinatorState, conn: PeerConnection, user: UserEntry, ukey: UserKey, tx: TransactionRecord, timings: TimingBreakdown): Promise<AggregateResult> {
  const { signer } = st;
  const message = Uint8Array.from(Buffer.from(tx.payload, 'hex'));
  const signers = st.participants.slice(0, st.threshold);
  const own = ukey.own.filter((k) => signers.includes(k.identifier));
  const sessionId = `${tx.id}:1`;
  let t = performance.now();
  const commitReq = conn.request('sign.commit', {
    sessionId,
    userId: user.id,
    keyId: ukey.keyId,
    message: tx.payload,
    signers,
    transaction: { txId: tx.id, asset: tx.asset, amount: tx.amount, destination: tx.destination },
  }) as Promise<{ commitment: WireCommitment }>;
  // The co-signer may refuse before our own commitment is ready: mark the rejection as handled
  // now (it is still seen by the `await commitReq` below), or Node reports it as unhandled.
  commitReq.catch(() => undefined);
  let signed = false;
  try {
    const t1 = performance.now();
    const ownCommitments: WireCommitment[] = await signer.commit({ sessionId, keys: own, message, signers });
    timings.ownCommitMs = performance.now() - t1;
    const { commitment } = await commitReq;
    timings.cosignerCommitMs = performance.now() - t;
    const commitments = [commitment, ...ownCommitments];
    t = performance.now();
    const shareReq = conn.request('sign.share', { sessionId, keyId: ukey.keyId, messageDigest: messageDigest(message), commitments }) as Promise<{ signatureShare: string }>;
    shareReq.catch(() => undefined); // awaited below, after our own shares are started
    const t2 = performance.now();
    const ownShares = signer.sign(sessionId, commitments).finally(() => (timings.ownShareMs = performance.now() - t2));
    void ownShares.catch(() => undefined);
    const cosignerShare = (await shareReq).signatureShare;
    timings.cosignerShareMs = performance.now() - t;
    await ownShares;
    const result = await signer.aggregate(sessionId, { 1: cosignerShare });
    signed = true;
    return result;
  } finally {
    signer.abort(sessionId); // no-op once aggregated; drops the nonces on any failure
    // The co-signer's session (open, or about to open if its approval is still running) holds
    // nonces until its TTL: close it now. Not awaited: the transaction's outcome does not wait on it.
    if (!signed) void conn.request('sign.abort', { sessionId }).catch(() => undefined);
  }
}

/** Create and run a transaction (POST /v1/transactions). */
export async function createTransaction(st: CoordinatorState, input: unknown): Promise<TransactionRecord> {
  const { tx, user, ukey } = parseTransaction(st, input);
  st.txs.set(tx.id, tx);
  while (st.txs.size > 10_000) st.txs.delete(st.txs.keys().next().value as string);
  const decision = evaluatePolicy(st.policy, tx);
  tx.policyRule = decision.rule;
  if (decision.action === 'block') {
    tx.status = 'blocked';
    return tx;
  }
  const t0 = performance.now();
  const timings: TimingBreakdown = { approvalMs: 0, cosignerCommitMs: 0, ownCommitMs: 0, cosignerShareMs: 0, ownShareMs: 0, aggregateMs: 0, verifyMs: 0, totalMs: 0 };
  try {
    const conn = connFor(st, user);
    if (decision.action === 'require-approval') {
      const approved = await requestApproval(conn, user, tx);
      timings.approvalMs = performance.now() - t0;
      if (!approved) {
        tx.status = 'rejected';
        return tx;
      }
    }
    tx.status = 'signing';
    const sig = await signRounds(st, conn, user, ukey, tx, timings);
    timings.aggregateMs = sig.aggregateMs;
    timings.verifyMs = sig.verifyMs;
    if (!sig.verified) throw new CosignerError('ERR_BAD_SHARE', 'final signature does not verify');
    tx.signature = sig.signature;
    tx.publicKey = ukey.groupPublicKey;
    tx.verified = true;
    tx.status = 'signed';
  } catch (err) {
    const e = toCosignerError(err);
    tx.status = e.code === 'ERR_CALLBACK_REJECTED' ? 'rejected' : 'failed';
    tx.error = e.toJSON();
  }
  timings.totalMs = performance.now() - t0;
  tx.timings = timings;
  return tx;
}
