// Reference coordinator (test stand-in, loopback only). Signing one transaction with the co-signer:
// one `sign.commit` names every rawTx entry (the co-signer's handler approves the transaction once),
// then each entry runs its own FROST session with the key derived at its path, all concurrently. The
// coordinator derives its own shares the same way (enclave/mpc/derivation.ts) and verifies each final
// signature with a standard verifier against the derived key.
import { CosignerError } from '../../proto/errors.ts';
import type { PeerConnection } from '../../proto/coordinator/connection.ts';
import type { SignCommitSession } from '../../proto/coordinator/messages.ts';
import { messageDigest, type WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { verifyWithStandardVerifier } from '../../enclave/mpc/suites.ts';
import { toHex } from '../../proto/encoding/hex.ts';
import { signEcdsaEntries } from './ecdsa-tx-sign.ts';
import { ownSharesFor, requestSignCommit } from './sign-request.ts';
import type { CoordinatorState, TimingBreakdown, TransactionEntry, TransactionRecord, UserEntry, UserKey } from './state.ts';

/** The co-signer's view of a session must be ours: same session, same derived key. */
function checkSession(s: SignCommitSession | undefined, sessionId: string, keyId: string, publicKey: string): SignCommitSession & { commitment: WireCommitment } {
  if (!s || s.sessionId !== sessionId || s.keyId !== keyId || s.publicKey !== publicKey) {
    throw new CosignerError('ERR_COORDINATOR_AUTH', 'the co-signer opened a session for another key', { details: { sessionId } });
  }
  if (!s.commitment) throw new CosignerError('ERR_COORDINATOR_AUTH', 'the co-signer answered without a FROST commitment', { details: { sessionId } });
  return s as SignCommitSession & { commitment: WireCommitment };
}

/** Signs every entry of `tx`; fills each entry's publicKey, signature, verified. */
export async function signEntries(st: CoordinatorState, conn: PeerConnection, user: UserEntry, ukey: UserKey, tx: TransactionRecord, timings: TimingBreakdown): Promise<void> {
  // Threshold ECDSA keys run DKLs23's three rounds instead (ecdsa-tx-sign.ts).
  if (ukey.scheme === 'dkls23-secp256k1') return signEcdsaEntries(st, conn, user, ukey, tx, timings);
  const { signer } = st;
  const signers = st.participants.slice(0, st.threshold);
  const jobs = tx.entries.map((e, i) => {
    const { own, first } = ownSharesFor(ukey, signers, e);
    return { e, sessionId: `${tx.id}:${i + 1}`, keys: own.map((d) => d.key), keyId: first.key.keyId, publicKey: toHex(first.signingPublicKey), message: Uint8Array.from(Buffer.from(e.payload, 'hex')) };
  });
  let t = performance.now();
  const commitReq = requestSignCommit(conn, user, ukey, tx, signers, jobs);
  // The co-signer may refuse before our own commitments are ready: mark the rejection as handled
  // now (it is still seen by the `await commitReq` below), or Node reports it as unhandled.
  commitReq.catch(() => undefined);
  const done = new Set<string>();
  try {
    const t1 = performance.now();
    const ownCommitments = await Promise.all(jobs.map((j) => signer.commit({ sessionId: j.sessionId, keys: j.keys, message: j.message, signers })));
    timings.ownCommitMs = performance.now() - t1;
    const reply = await commitReq;
    timings.cosignerCommitMs = performance.now() - t;
    if (!Array.isArray(reply?.sessions) || reply.sessions.length !== jobs.length) throw new CosignerError('ERR_COORDINATOR_AUTH', 'the co-signer answered for another set of sessions');
    t = performance.now();
    await Promise.all(jobs.map(async (j, i) => {
      const s = checkSession(reply.sessions[i], j.sessionId, j.keyId, j.publicKey);
      const commitments: WireCommitment[] = [s.commitment, ...(ownCommitments[i] ?? [])];
      const shareReq = conn.request('sign.share', { sessionId: j.sessionId, keyId: j.keyId, messageDigest: messageDigest(j.message), commitments }) as Promise<{ signatureShare: string }>;
      shareReq.catch(() => undefined); // awaited below, after our own shares are started
      const ownShares = signer.sign(j.sessionId, commitments);
      void ownShares.catch(() => undefined);
      const cosignerShare = (await shareReq).signatureShare;
      await ownShares;
      const r = await signer.aggregate(j.sessionId, { 1: cosignerShare });
      done.add(j.sessionId);
      timings.aggregateMs += r.aggregateMs;
      timings.verifyMs += r.verifyMs;
      const entry: TransactionEntry = j.e;
      entry.publicKey = j.publicKey;
      entry.signature = r.signature;
      // Verified again against the derived key exactly as a chain's verifier takes it.
      entry.verified = r.verified && verifyWithStandardVerifier(tx.scheme, Buffer.from(j.publicKey, 'hex'), j.message, Buffer.from(r.signature, 'hex'));
    }));
    timings.cosignerShareMs = performance.now() - t;
    timings.ownShareMs = timings.cosignerShareMs;
  } finally {
    for (const j of jobs) {
      if (done.has(j.sessionId)) continue;
      signer.abort(j.sessionId); // drops our nonces on any failure
      // The co-signer's session (open, or about to open if its approval is still running) holds
      // nonces until its TTL: close it now. Not awaited: the transaction's outcome does not wait on it.
      void conn.request('sign.abort', { sessionId: j.sessionId }).catch(() => undefined);
    }
  }
}
