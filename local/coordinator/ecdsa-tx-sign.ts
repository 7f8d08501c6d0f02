// Reference coordinator (test stand-in, loopback only). Signing one transaction whose key is a
// threshold ECDSA (dkls23-secp256k1) key: one `sign.commit` (the co-signer's handler approves the
// whole transaction once; its reply carries the co-signer's round-1 messages per entry), then per
// entry `sign.round` 2 and 3, concurrently across entries and with the own parties' rounds. The
// own assembling party's 4th step yields the signature, verified with noble against the derived
// compressed key, and the recovered key must be that key. Each entry's payload is its 32-byte digest.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CosignerError } from '../../proto/errors.ts';
import type { PeerConnection } from '../../proto/coordinator/connection.ts';
import { parseEcdsaMessages, parseEcdsaReply } from '../../proto/coordinator/ecdsa-messages.ts';
import type { SignCommitSession } from '../../proto/coordinator/messages.ts';
import type { WireEcdsaMessage } from '../../proto/coordinator/mpc-wire.ts';
import { messageDigest } from '../../enclave/mpc/signing-session.ts';
import type { EcdsaSignatureLike } from '../../enclave/mpc/ecdsa/host/protocols.ts';
import { toHex } from '../../proto/encoding/hex.ts';
import { CoordinatorRelay } from './ecdsa-relay.ts';
import { ownSharesFor, requestSignCommit } from './sign-request.ts';
import type { CoordinatorState, TimingBreakdown, TransactionRecord, UserEntry, UserKey } from './state.ts';

/**
 * Test seam (the reference coordinator is a test stand-in): lets attack tests play a malicious
 * coordinator by changing the own parties' messages of `sign.round` 2 or 3 before they are sent.
 */
export const ecdsaTxTestHooks: { tamper?: (round: 2 | 3, messages: WireEcdsaMessage[]) => WireEcdsaMessage[] } = {};

/**
 * Whether `compact` (r ‖ s, low-S) with `recovery` is a valid ECDSA signature of the 32-byte
 * `digest` by the compressed key `publicKey`, and the key recovered from it is that key.
 */
export function verifyEcdsa(publicKey: Uint8Array, digest: Uint8Array, compact: Uint8Array, recovery: number): boolean {
  try {
    if (!secp256k1.verify(compact, digest, publicKey, { prehash: false, lowS: true, format: 'compact' })) return false;
    const recovered = secp256k1.Signature.fromBytes(compact, 'compact').addRecoveryBit(recovery).recoverPublicKey(digest).toBytes(true);
    return Buffer.from(recovered).equals(Buffer.from(publicKey));
  } catch {
    return false;
  }
}

function checkSession(s: SignCommitSession | undefined, sessionId: string, keyId: string, publicKey: string): SignCommitSession {
  if (!s || s.sessionId !== sessionId || s.keyId !== keyId || s.publicKey !== publicKey || s.commitment !== undefined) {
    throw new CosignerError('ERR_COORDINATOR_AUTH', 'the co-signer opened a session for another key', { details: { sessionId } });
  }
  return s;
}

/** Signs every entry of `tx` with the threshold ECDSA key `ukey`; fills publicKey, signature, recovery, verified. */
export async function signEcdsaEntries(st: CoordinatorState, conn: PeerConnection, user: UserEntry, ukey: UserKey, tx: TransactionRecord, timings: TimingBreakdown): Promise<void> {
  const signers = st.participants.slice(0, st.threshold);
  const jobs = tx.entries.map((e, i) => {
    const { own, first } = ownSharesFor(ukey, signers, e);
    const digest = Uint8Array.from(Buffer.from(e.payload, 'hex'));
    if (digest.length !== 32) throw new CosignerError('ERR_TX_FORMAT', 'a threshold ECDSA entry signs a 32-byte digest');
    const sessionId = `${tx.id}:${i + 1}`;
    const relay = new CoordinatorRelay<unknown>(own.map((d) => st.ecdsa.signing({ sessionId, key: d.key, digest, signers })), false);
    return { e, sessionId, relay, digest, keyId: first.key.keyId, publicKey: first.signingPublicKey, md: messageDigest(digest) };
  });
  let t = performance.now();
  const commitReq = requestSignCommit(conn, user, ukey, tx, signers, jobs);
  commitReq.catch(() => undefined); // awaited below, after the own round 1
  const done = new Set<string>();
  try {
    const t1 = performance.now();
    const own1 = jobs.map((j) => j.relay.advance([]));
    timings.ownCommitMs = performance.now() - t1;
    const reply = await commitReq;
    timings.cosignerCommitMs = performance.now() - t;
    if (!Array.isArray(reply?.sessions) || reply.sessions.length !== jobs.length) throw new CosignerError('ERR_COORDINATOR_AUTH', 'the co-signer answered for another set of sessions');
    t = performance.now();
    await Promise.all(jobs.map(async (j, i) => {
      const s = checkSession(reply.sessions[i], j.sessionId, j.keyId, toHex(j.publicKey));
      let fromCosigner = parseEcdsaMessages(s.messages ?? []);
      let ours = own1[i] ?? [];
      for (const round of [2, 3] as const) {
        const sent = ecdsaTxTestHooks.tamper ? ecdsaTxTestHooks.tamper(round, ours) : ours;
        const req = conn.request('sign.round', { sessionId: j.sessionId, keyId: j.keyId, messageDigest: j.md, round, messages: sent });
        req.catch(() => undefined); // awaited just below, after our own round
        ours = j.relay.advance(fromCosigner);
        fromCosigner = parseEcdsaReply(await req, 'sign.round');
      }
      j.relay.advance(fromCosigner); // the assembling party's last step: the signature
      const sig = j.relay.done?.[0] as EcdsaSignatureLike | undefined;
      if (!sig) throw new CosignerError('ERR_BAD_SHARE', 'no signature assembled', { details: { sessionId: j.sessionId } });
      done.add(j.sessionId);
      const tv = performance.now();
      const verified = verifyEcdsa(j.publicKey, j.digest, sig.compact, sig.recovery);
      timings.verifyMs += performance.now() - tv;
      j.e.publicKey = toHex(j.publicKey);
      j.e.signature = toHex(sig.compact);
      j.e.recovery = sig.recovery;
      j.e.verified = verified;
    }));
    timings.cosignerShareMs = performance.now() - t;
    timings.ownShareMs = timings.cosignerShareMs;
  } finally {
    for (const j of jobs) {
      if (done.has(j.sessionId)) continue;
      j.relay.abort();
      void conn.request('sign.abort', { sessionId: j.sessionId }).catch(() => undefined);
    }
  }
}
