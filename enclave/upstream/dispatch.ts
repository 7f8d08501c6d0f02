// Runs in the enclave. Handles the requests the coordinator sends over the authenticated link:
// sign.commit (validate → approve → round 1), sign.share (FROST round 2), sign.round (threshold
// ECDSA rounds 2 and 3), sign.abort, user.activate,
// approval.request, ping. Idempotent by request id; every body parsed strictly (messages.ts).
import { createHash, createPrivateKey } from 'node:crypto';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import type { SessionRegistry } from '../mpc/sessions.ts';
import type { EcdsaSessionRegistry } from '../mpc/ecdsa/host/sessions.ts';
import { parseSignRound } from '../../proto/coordinator/ecdsa-messages.ts';
import { inProcessHost } from '../mpc/ecdsa/host/host.ts';
import { ecdsaProtocols } from '../mpc/ecdsa/host/protocols.ts';
import { createEcdsaSessions } from './ecdsa-link.ts';
import type { Clock } from '../../proto/ports.ts';
import type { ApiUserRecord } from '../vault/records.ts';
import { approvalDigest, type ApproveFn, type SignApprovalRequest } from './approval-request.ts';
import { canonicalDigest, signApproval } from '../../proto/coordinator/approval-signature.ts';
import { ID, obj, parseApprovalRequest, parseSignCommit, parseSignShare, str } from '../../proto/coordinator/messages.ts';
import type { AuditSink } from './audit-outbox.ts';
import type { UserStore } from './user-store.ts';
import { recordSignature } from '../services/signing-stats.ts';
import { activateUser } from './activation.ts';
import { checkApprovalStagePayload, openSessions, prepareSign, type PreparedSign } from './sign-commit.ts';

interface CachedReply {
  readonly digest: string;
  readonly result: Promise<unknown>;
}

/** Answers remembered for idempotent retries. */
const REPLY_CACHE = 1024;

/** What the dispatcher needs from the client. */
export interface DispatcherDeps {
  readonly clock: Clock;
  readonly users: UserStore;
  readonly approve: ApproveFn;
  readonly registry: SessionRegistry;
  /** Threshold ECDSA sessions (dkls23-secp256k1 keys); default: a registry running its parties in this thread. */
  readonly ecdsa?: EcdsaSessionRegistry;
  /** This co-signer's id and the owner key sealed at setup (user.activate verifies the owner's signature). */
  readonly cosignerId: string;
  readonly ownerPublicKeyPem: string | undefined;
  readonly log: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;
  /** `change.approve`: the owner's signed decision on a change the parent proposed. */
  readonly onOwnerDecision?: (body: unknown) => Promise<unknown>;
  /** The coordinator's audit log (the client's outbox): decisions made here. */
  readonly audit?: AuditSink;
}

/** The co-signer's handler for coordinator requests. */
export class RequestDispatcher {
  private readonly replies = new Map<string, CachedReply>();
  private readonly ecdsa: EcdsaSessionRegistry;

  constructor(private readonly o: DispatcherDeps) {
    this.ecdsa = o.ecdsa ?? createEcdsaSessions({ clock: o.clock, host: inProcessHost(ecdsaProtocols), users: o.users, knownElsewhere: (id) => o.registry.knows(id), log: o.log, ...(o.audit ? { audit: o.audit } : {}) });
  }

  private log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void {
    this.o.log(level, fields, msg);
  }

  /** Idempotency: the same request id with the same body gets the same answer, once computed. */
  handle(type: string, body: unknown, id: string): Promise<unknown> {
    const key = `${type}\0${id}`;
    const digest = createHash('sha256').update(JSON.stringify(body ?? null)).digest('hex');
    const cached = this.replies.get(key);
    if (cached) {
      if (cached.digest !== digest) return Promise.reject(new CosignerError('ERR_ALREADY_EXISTS', 'request id reused with a different body'));
      return cached.result;
    }
    const result = this.dispatch(type, body, id);
    this.replies.set(key, { digest, result });
    // A retryable failure (busy, user still pending…) is forgotten, so a retry under the same id
    // is processed afresh; answers and final refusals stay cached.
    result.catch((err: unknown) => {
      if (err instanceof CosignerError && err.retryable && this.replies.get(key)?.result === result) this.replies.delete(key);
    });
    while (this.replies.size > REPLY_CACHE) {
      const first = this.replies.keys().next();
      if (first.done) break;
      this.replies.delete(first.value);
    }
    return result;
  }

  private async dispatch(type: string, body: unknown, id: string): Promise<unknown> {
    switch (type) {
      case 'ping':
        return { now: this.o.clock.now() };
      case 'sign.commit':
        return this.onSignCommit(body, id);
      case 'sign.share': {
        const b = parseSignShare(body);
        return { signatureShare: this.o.registry.sign(b.sessionId, { keyId: b.keyId, messageDigest: b.messageDigest }, b.commitments) };
      }
      case 'sign.round':
        return this.ecdsa.round(parseSignRound(body));
      case 'sign.abort': {
        const b = obj(body, 'sign.abort', ['sessionId']);
        const sessionId = str(b.sessionId, 'sessionId', ID);
        // Either scheme's session of that id; an id not open yet is remembered by both as finished.
        this.o.registry.abort(sessionId);
        this.ecdsa.abort(sessionId);
        return {};
      }
      case 'user.activate': {
        let next: ApiUserRecord;
        try {
          next = await activateUser({ users: this.o.users, cosignerId: this.o.cosignerId, ownerPublicKeyPem: this.o.ownerPublicKeyPem, now: this.o.clock.now() }, body);
        } catch (err) {
          if (err instanceof CosignerError && err.code === 'ERR_ACTIVATION_INVALID') this.log('warn', { ...(err.details ?? {}), code: err.code, audit: true }, 'owner approval of a key share refused: user stays pending');
          throw err;
        }
        this.log('info', { userId: next.id, audit: true }, 'owner approved the key share: user active');
        return { userId: next.id, status: next.status };
      }
      case 'approval.request':
        return this.onApprovalRequest(body, id);
      case 'change.approve':
        // Verified against the sealed owner key by the handler (enclave/services/owner-changes.ts).
        if (!this.o.onOwnerDecision) throw new CosignerError('ERR_UNKNOWN_METHOD', 'owner decisions are not handled by this client');
        return this.o.onOwnerDecision(body);
      default:
        throw new CosignerError('ERR_UNKNOWN_METHOD', 'unknown coordinator request type', { details: { type: type.slice(0, 40) } });
    }
  }

  private requireUser(id: string): ApiUserRecord {
    const user = this.o.users.get(id);
    if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user on this co-signer', { details: { userId: id } });
    return user;
  }

  private async onSignCommit(body: unknown, requestId: string): Promise<unknown> {
    const b = parseSignCommit(body);
    const user = this.requireUser(b.userId);
    if (user.status !== 'active') throw new CosignerError('ERR_USER_PENDING', 'the owner has not approved this user\'s key share yet', { details: { userId: user.id } });
    const txId = b.transaction.txId;
    let prepared: PreparedSign;
    try {
      prepared = prepareSign(user, b, requestId);
    } catch (err) {
      // A payload that is not what its raw transaction says (or a key that cannot be derived)
      // refuses the whole transaction before any handler is asked; the coordinator keeps a record.
      this.o.audit?.({ kind: 'sign.refused', userId: user.id, subjectId: txId, decision: 'refuse', code: toCosignerError(err).code });
      throw err;
    }
    const expected = approvalDigest(prepared.request);
    const scheme = prepared.entries[0]?.derived.key.scheme ?? 'other';
    const t0 = this.o.clock.now();
    const decision = await this.o.approve(user, structuredClone(prepared.request)).catch((err: unknown) => {
      recordSignature(scheme, 'rejected', this.o.clock.now() - t0);
      throw err;
    });
    if (!decision.approved) {
      recordSignature(scheme, 'rejected', this.o.clock.now() - t0);
      throw new CosignerError('ERR_CALLBACK_REJECTED', 'signing refused by the approval step', { details: { txId } });
    }
    // Bind what we sign to what was approved: the approval names the digest of the request it saw
    // (every entry's session, path, derived key, format, rawTx and payload, and the signer set); the
    // approver only ever got a copy of the request.
    if (decision.payloadDigest !== expected) {
      this.o.audit?.({ kind: 'sign.refused', userId: user.id, subjectId: txId, digest: expected, decision: 'refuse', code: 'ERR_MESSAGE_MISMATCH' });
      throw new CosignerError('ERR_MESSAGE_MISMATCH', 'the approved payload is not the one to be signed', { details: { txId } });
    }
    const result = await openSessions({ frost: this.o.registry, ecdsa: this.ecdsa }, prepared, user.id);
    this.log('info', { userId: user.id, txId, sessions: result.sessions.map((x) => x.sessionId), keyIds: result.sessions.map((x) => x.keyId) }, 'signing sessions opened');
    return result;
  }

  private async onApprovalRequest(body: unknown, requestId: string): Promise<unknown> {
    const b = parseApprovalRequest(body);
    checkApprovalStagePayload(b);
    const user = this.requireUser(b.userId);
    if (user.status !== 'active') throw new CosignerError('ERR_USER_PENDING', 'user not active yet', { details: { userId: user.id } });
    const request: SignApprovalRequest = { requestId, kind: b.kind, userId: user.id, txId: b.subjectId, rawTx: [], payload: b.payload };
    const expected = approvalDigest(request);
    const decision = await this.o.approve(user, structuredClone(request));
    if (decision.payloadDigest !== expected) {
      this.o.audit?.({ kind: 'approval.refused', userId: user.id, subjectId: b.subjectId, digest: expected, decision: 'refuse', code: 'ERR_MESSAGE_MISMATCH' });
      throw new CosignerError('ERR_MESSAGE_MISMATCH', 'the approval names another payload');
    }
    const approvalKey = createPrivateKey({ key: Buffer.from(user.approvalKeyPkcs8, 'hex'), format: 'der', type: 'pkcs8' });
    const payloadDigest = canonicalDigest(b.payload);
    const decisionWord = decision.approved ? 'approve' : 'reject';
    const signature = signApproval(approvalKey, { kind: b.kind, userId: user.id, subjectId: b.subjectId, payloadDigest, decision: decisionWord });
    // The signed decision the coordinator will act on, with the digest it signs.
    this.o.audit?.({ kind: `approval.${b.kind}.signed`, userId: user.id, subjectId: b.subjectId, digest: payloadDigest, decision: decisionWord });
    return { decision: decisionWord, payloadDigest, signature, ...(decision.reason ? { reason: decision.reason.slice(0, 200) } : {}) };
  }
}
