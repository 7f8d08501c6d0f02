// Runs in the enclave. The parts of `sign.commit` and `approval.request` that concern what is
// signed: each rawTx entry's key is derived from the user's base key at the entry's path, its
// payload is recomputed from the raw transaction for that derived key (enclave/approval/raw-tx), the
// whole transaction becomes one approval request whose digest covers every entry's session, path,
// derived key, format, raw bytes and payload, and only after the approval one FROST session per
// entry opens with exactly those keys and payloads: FROST, or for dkls23-secp256k1 keys a threshold
// ECDSA session over the entry's 32-byte payload (the digest), whose round-1 messages the reply carries.
import { CosignerError } from '../../proto/errors.ts';
import type { ApprovalRequestBody, SignCommitBody, SignCommitResult, SignCommitSession } from '../../proto/coordinator/messages.ts';
import { toHex } from '../../proto/encoding/hex.ts';
import { buildTxSignRequest } from '../approval/payload.ts';
import { checkRawTx } from '../approval/raw-tx/check.ts';
import { deriveKeyShare, formatDerivationPath, parseDerivationPath, type DerivedKey } from '../mpc/derivation.ts';
import type { SessionRegistry } from '../mpc/sessions.ts';
import type { EcdsaSessionRegistry } from '../mpc/ecdsa/host/sessions.ts';
import type { ApiUserRecord } from '../vault/records.ts';
import type { ApprovalRawTx, SignApprovalRequest } from './approval-request.ts';

/** One checked entry, ready to open its session once the transaction is approved. */
interface PreparedEntry {
  readonly sessionId: string;
  /** The sealed (base) key the entry derives from. */
  readonly baseKeyId: string;
  readonly derived: DerivedKey;
  readonly message: Uint8Array;
}

/** A checked `sign.commit`: the approval request and the sessions it will open. */
export interface PreparedSign {
  readonly request: SignApprovalRequest;
  readonly entries: readonly PreparedEntry[];
  readonly signers: readonly number[];
}

const bytesOf = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

/**
 * Derives every entry's key and checks its payload against its raw transaction. Throws (and no
 * handler is asked): ERR_NOT_FOUND (no such base key), ERR_DERIVATION_UNSUPPORTED,
 * ERR_PAYLOAD_MISMATCH / ERR_TX_FORMAT (payload is not what rawTx says this key signs),
 * ERR_INVALID_ARGUMENT (a transaction field outside the handler-facing bounds).
 */
export function prepareSign(user: ApiUserRecord, b: SignCommitBody, requestId: string): PreparedSign {
  const entries: PreparedEntry[] = [];
  const rawTx: ApprovalRawTx[] = b.rawTx.map((e) => {
    const base = user.keyShares.find((k) => k.keyId === e.keyId);
    if (!base) throw new CosignerError('ERR_NOT_FOUND', 'no such key for this user', { details: { keyId: e.keyId } });
    if (base.scheme === 'dkls23-secp256k1') checkEcdsaEntry(base, e.payload);
    const derived = deriveKeyShare(base, parseDerivationPath(e.keyDerivationPath));
    const message = bytesOf(e.payload);
    checkRawTx({ format: e.format, rawTx: bytesOf(e.rawTx), payload: message, scheme: base.scheme, signingPublicKey: derived.signingPublicKey });
    entries.push({ sessionId: e.sessionId, baseKeyId: base.keyId, derived, message });
    // The handler is shown the path in its canonical text form: the one the key was derived at.
    return {
      keyDerivationPath: formatDerivationPath(derived.path), rawTx: e.rawTx, payload: e.payload,
      sessionId: e.sessionId, keyId: derived.key.keyId, format: e.format, publicKey: toHex(derived.signingPublicKey),
    };
  });
  const request: SignApprovalRequest = { requestId, kind: 'sign', userId: user.id, txId: b.transaction.txId, signers: [...b.signers], rawTx, payload: b.transaction };
  // The handler-facing bounds (one source: payload.ts), checked before anyone is asked.
  buildTxSignRequest({ ...b.transaction, rawTx: rawTx.map((r) => ({ keyDerivationPath: r.keyDerivationPath, rawTx: r.rawTx, payload: r.payload, format: r.format })) }, { signerId: user.id, stage: 'sign' });
  return { request, entries, signers: [...b.signers] };
}

/**
 * A threshold ECDSA key signs only while no peer has been caught cheating with it (the mark is
 * sealed: ERR_KEY_REFRESH_REQUIRED until `cosigner refresh-key`), and only a 32-byte digest: the
 * entry's payload is the digest itself (ERR_TX_FORMAT otherwise). Both before any handler is asked.
 */
function checkEcdsaEntry(base: ApiUserRecord['keyShares'][number], payloadHex: string): void {
  const mark = base.ecdsa?.refreshRequired;
  if (mark) {
    throw new CosignerError('ERR_KEY_REFRESH_REQUIRED', 'a peer failed a protocol check with this key: refresh it before it signs again', {
      details: { keyId: base.keyId, peer: mark.peer, check: mark.check.slice(0, 80) },
    });
  }
  if (payloadHex.length !== 64) throw new CosignerError('ERR_TX_FORMAT', 'a threshold ECDSA entry signs a 32-byte digest: payload must be 32 bytes', { details: { keyId: base.keyId } });
}

/** The session registries of this co-signer: FROST's and threshold ECDSA's. */
export interface Registries {
  readonly frost: SessionRegistry;
  readonly ecdsa: EcdsaSessionRegistry;
}

/**
 * Opens one session per entry with the derived key. If one cannot open (a reused session id, too
 * many open sessions) the ones opened before it are aborted: the transaction is signed whole or
 * not at all.
 */
export async function openSessions(r: Registries, p: PreparedSign, userId: string): Promise<SignCommitResult> {
  const sessions: SignCommitSession[] = [];
  const abortAll = (): void => {
    for (const e of p.entries) (e.derived.key.scheme === 'dkls23-secp256k1' ? r.ecdsa : r.frost).abort(e.sessionId);
  };
  try {
    for (const e of p.entries) {
      const publicKey = toHex(e.derived.signingPublicKey);
      if (e.derived.key.scheme === 'dkls23-secp256k1') {
        const { messages, binding } = await r.ecdsa.begin(e.sessionId, { userId, keyId: e.baseKeyId }, e.derived.key, e.message, p.signers);
        sessions.push({ sessionId: e.sessionId, keyId: binding.keyId, publicKey, messages, messageDigest: binding.messageDigest });
      } else {
        const { commitment, binding } = r.frost.begin(e.sessionId, e.derived.key, e.message, p.signers);
        sessions.push({ sessionId: e.sessionId, keyId: binding.keyId, publicKey, commitment, messageDigest: binding.messageDigest });
      }
    }
  } catch (err) {
    abortAll();
    throw err;
  }
  return { sessions };
}

/**
 * The approval-stage transaction a coordinator asks about (`approval.request` kind `transaction`):
 * the handler-facing description of `subjectId` without the signing-stage fields. Those are refused
 * rather than dropped, since the co-signer's signed decision covers the coordinator's payload as
 * sent and must not cover anything the handler was not shown.
 */
export function checkApprovalStagePayload(b: ApprovalRequestBody): void {
  if (b.kind !== 'transaction') return;
  const p = b.payload;
  if (p.txId !== b.subjectId) throw new CosignerError('ERR_INVALID_ARGUMENT', 'payload.txId must be the subjectId');
  for (const k of ['rawTx', 'fee', 'signerId']) {
    if (k in p) throw new CosignerError('ERR_INVALID_ARGUMENT', `payload.${k} is not sent at the approval stage`, { details: { field: k } });
  }
  const dests = Array.isArray(p.destinations) ? (p.destinations as unknown[]) : [];
  if (dests.some((d) => typeof d === 'object' && d !== null && 'displayDstAddress' in d)) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'payload.destinations[].displayDstAddress is not sent at the approval stage', { details: { field: 'displayDstAddress' } });
  }
}
