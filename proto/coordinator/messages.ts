// Both sides of the coordinator link. The request bodies of proto/coordinator.schema.json as
// TypeScript types, with strict parsers for the ones the enclave receives (unknown fields are an
// error; every string, array and number is bounded).
import { CosignerError } from '../errors.ts';
import type { ThresholdScheme, WireCommitment, WireDkgRound1, WireDkgRound2 } from './mpc-wire.ts';

/** Transaction facts the coordinator attaches to a sign request (what the handler sees). */
export interface TransactionInfo {
  readonly txId: string;
  readonly asset: string;
  readonly amount: string;
  readonly destination: string;
  readonly note?: string;
}

/** s2c `sign.commit`: open a session and return our round-1 commitment. */
export interface SignCommitBody {
  readonly sessionId: string;
  readonly userId: string;
  readonly keyId: string;
  /** The exact bytes to sign, hex. */
  readonly message: string;
  readonly signers: readonly number[];
  readonly transaction: TransactionInfo;
}

/** s2c `sign.share`: round 2. */
export interface SignShareBody {
  readonly sessionId: string;
  readonly keyId: string;
  readonly messageDigest: string;
  readonly commitments: readonly WireCommitment[];
}

/** s2c `approval.request`: sign a decision on a transaction or configuration change. */
export interface ApprovalRequestBody {
  readonly userId: string;
  readonly kind: 'transaction' | 'config';
  readonly subjectId: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** c2s `pair.register` and its result. */
export interface PairRegisterBody {
  readonly token: string;
  readonly approvalPublicKey: string;
  readonly schemes: readonly ThresholdScheme[];
}
export interface PairRegisterResult {
  readonly pairingId: string;
  readonly userId: string;
  readonly workspace: string;
  readonly threshold: number;
  readonly participants: readonly number[];
  readonly identifier: number;
}

/** c2s `dkg.round1` / `dkg.round2` / `dkg.finish`. */
export interface DkgRound1Body {
  readonly pairingId: string;
  readonly scheme: ThresholdScheme;
  readonly package: WireDkgRound1;
}
export interface DkgRound2Body {
  readonly pairingId: string;
  readonly scheme: ThresholdScheme;
  readonly packages: readonly WireDkgRound2[];
}
export interface DkgFinishBody {
  readonly pairingId: string;
  readonly scheme: ThresholdScheme;
  readonly keyId: string;
  readonly groupPublicKey: string;
  readonly verifyingShares: Readonly<Record<string, string>>;
  /** The chain code the DKG agreed (hex, 32 bytes): the coordinator's parties must have the same. */
  readonly chainCode: string;
}

// ---- strict parsing helpers ----

type Obj = Record<string, unknown>;

function fail(field: string, why: string): never {
  throw new CosignerError('ERR_INVALID_ARGUMENT', `${field}: ${why}`, { details: { field } });
}

/** An object with exactly `required` keys plus any of `optional`. */
export function obj(v: unknown, field: string, required: readonly string[], optional: readonly string[] = []): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'expected an object');
  const o = v as Obj;
  for (const k of Object.keys(o)) if (!required.includes(k) && !optional.includes(k)) fail(field, `unknown field ${k.slice(0, 40)}`);
  for (const k of required) if (!(k in o)) fail(field, `missing ${k}`);
  return o;
}

/** A string matching `re`, at most `max` characters. */
export function str(v: unknown, field: string, re: RegExp, max = 256): string {
  if (typeof v !== 'string' || v.length > max || !re.test(v)) fail(field, 'bad value');
  return v;
}

/** An integer in [min, max]. */
export function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(field, `expected an integer ${min}..${max}`);
  return v;
}

/** An array of at most `max` items, each parsed by `item`. */
export function arr<T>(v: unknown, field: string, max: number, item: (x: unknown, f: string) => T): T[] {
  if (!Array.isArray(v) || v.length > max) fail(field, `expected an array of at most ${max}`);
  return v.map((x, i) => item(x, `${field}[${i}]`));
}

export const ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
export const HEX = /^(?:[0-9a-f]{2})*$/;
const TEXT = /^[\x20-\x7e]*$/;

/** Parses a `sign.commit` body. */
export function parseSignCommit(v: unknown, maxMessageHex: number): SignCommitBody {
  const o = obj(v, 'sign.commit', ['sessionId', 'userId', 'keyId', 'message', 'signers', 'transaction']);
  const t = obj(o.transaction, 'transaction', ['txId', 'asset', 'amount', 'destination'], ['note']);
  return {
    sessionId: str(o.sessionId, 'sessionId', ID),
    userId: str(o.userId, 'userId', NAME),
    keyId: str(o.keyId, 'keyId', ID),
    message: str(o.message, 'message', HEX, maxMessageHex),
    signers: arr(o.signers, 'signers', 16, (x, f) => int(x, f, 1, 255)),
    transaction: {
      txId: str(t.txId, 'txId', ID),
      asset: str(t.asset, 'asset', /^[A-Za-z0-9._-]{1,32}$/),
      amount: str(t.amount, 'amount', /^[0-9]{1,30}(\.[0-9]{1,18})?$/),
      destination: str(t.destination, 'destination', /^[A-Za-z0-9:._-]{1,128}$/),
      ...(t.note === undefined ? {} : { note: str(t.note, 'note', TEXT, 512) }),
    },
  };
}

function commitment(x: unknown, f: string): WireCommitment {
  const c = obj(x, f, ['identifier', 'hiding', 'binding']);
  return { identifier: int(c.identifier, `${f}.identifier`, 1, 255), hiding: str(c.hiding, `${f}.hiding`, HEX, 66), binding: str(c.binding, `${f}.binding`, HEX, 66) };
}

/** Parses a `sign.share` body. */
export function parseSignShare(v: unknown): SignShareBody {
  const o = obj(v, 'sign.share', ['sessionId', 'keyId', 'messageDigest', 'commitments']);
  return {
    sessionId: str(o.sessionId, 'sessionId', ID),
    keyId: str(o.keyId, 'keyId', ID),
    messageDigest: str(o.messageDigest, 'messageDigest', /^[0-9a-f]{64}$/),
    commitments: arr(o.commitments, 'commitments', 16, commitment),
  };
}

/** Parses an `approval.request` body. */
export function parseApprovalRequest(v: unknown): ApprovalRequestBody {
  const o = obj(v, 'approval.request', ['userId', 'kind', 'subjectId', 'payload']);
  if (o.kind !== 'transaction' && o.kind !== 'config') fail('kind', 'transaction or config');
  const payload = obj(o.payload, 'payload', Object.keys((o.payload ?? {}) as Obj).slice(0, 32));
  if (JSON.stringify(payload).length > 16 * 1024) fail('payload', 'too large');
  return { userId: str(o.userId, 'userId', NAME), kind: o.kind, subjectId: str(o.subjectId, 'subjectId', ID), payload };
}

/** Parses a `pair.register` result. */
export function parsePairRegisterResult(v: unknown): PairRegisterResult {
  const o = obj(v, 'pair.register', ['pairingId', 'userId', 'workspace', 'threshold', 'participants', 'identifier']);
  return {
    pairingId: str(o.pairingId, 'pairingId', ID),
    userId: str(o.userId, 'userId', NAME),
    workspace: str(o.workspace, 'workspace', NAME),
    threshold: int(o.threshold, 'threshold', 2, 16),
    participants: arr(o.participants, 'participants', 16, (x, f) => int(x, f, 1, 255)),
    identifier: int(o.identifier, 'identifier', 1, 255),
  };
}

/** Parses a list of DKG round-1 packages. */
export function parseDkgRound1List(v: unknown): WireDkgRound1[] {
  const o = obj(v, 'dkg.round1', ['packages']);
  return arr(o.packages, 'packages', 15, (x, f) => {
    const p = obj(x, f, ['identifier', 'commitment', 'proofOfKnowledge', 'chainCodeCommitment']);
    return {
      identifier: int(p.identifier, `${f}.identifier`, 1, 255),
      commitment: arr(p.commitment, `${f}.commitment`, 16, (c, g) => str(c, g, HEX, 66)),
      proofOfKnowledge: str(p.proofOfKnowledge, `${f}.proofOfKnowledge`, HEX, 130),
      chainCodeCommitment: str(p.chainCodeCommitment, `${f}.chainCodeCommitment`, HEX, 64),
    };
  });
}

/** Parses a list of DKG round-2 packages. */
export function parseDkgRound2List(v: unknown): WireDkgRound2[] {
  const o = obj(v, 'dkg.round2', ['packages']);
  return arr(o.packages, 'packages', 15, (x, f) => {
    const p = obj(x, f, ['from', 'to', 'signingShare', 'chainCodeReveal']);
    return {
      from: int(p.from, `${f}.from`, 1, 255),
      to: int(p.to, `${f}.to`, 1, 255),
      signingShare: str(p.signingShare, `${f}.signingShare`, HEX, 64),
      chainCodeReveal: str(p.chainCodeReveal, `${f}.chainCodeReveal`, HEX, 64),
    };
  });
}

// ---- owner-gated changes and audit records ----

/** c2s `change.propose`: a change the parent proposed, for the workspace owner to decide. */
export interface ChangeProposeBody {
  readonly changeId: string;
  readonly kind: 'callback.update' | 'user.remove';
  readonly userId: string;
  /** Non-secret lines the owner is shown (URL, mode, fingerprints, key ids). */
  readonly summary: readonly string[];
  /** SHA-256 hex of the canonical change (what the owner signs). */
  readonly digest: string;
  /** Epoch ms. */
  readonly expiresAt: number;
}

/** s2c `change.approve`: the owner's signed decision (proto/coordinator/owner-approval.ts). */
export interface ChangeApproveBody {
  readonly changeId: string;
  readonly decision: 'approve' | 'reject';
  readonly signature: string;
}

/**
 * c2s `audit.record`: one decision the enclave made, kept by the coordinator so that the parent
 * (which relays the enclave's log lines) cannot erase it. Identifiers, codes and digests only: never
 * a payload, a key or the handler's free text. `id` makes a resend idempotent (the coordinator keeps
 * the first record of an id); `dropped` counts records lost to the enclave's bounded outbox before it.
 */
export interface AuditRecordBody {
  readonly id?: string;
  readonly at: number;
  readonly kind: string;
  readonly userId?: string;
  readonly subjectId?: string;
  readonly digest?: string;
  readonly decision?: string;
  readonly code?: string;
  readonly dropped?: number;
}

const AUDIT_KIND = /^[a-z][a-z0-9._-]{0,63}$/;
const AUDIT_WORD = /^[A-Za-z0-9_.-]{1,64}$/;

/** Parses an `audit.record` body (both sides: the enclave checks what it queues, the coordinator what it keeps). */
export function parseAuditRecord(v: unknown): AuditRecordBody {
  const o = obj(v, 'audit.record', ['at', 'kind'], ['id', 'userId', 'subjectId', 'digest', 'decision', 'code', 'dropped']);
  const opt = (k: string, f: (x: unknown) => unknown): Record<string, unknown> => (o[k] === undefined ? {} : { [k]: f(o[k]) });
  return {
    ...opt('id', (x) => str(x, 'id', ID)),
    at: int(o.at, 'at', 0, Number.MAX_SAFE_INTEGER),
    kind: str(o.kind, 'kind', AUDIT_KIND),
    ...opt('userId', (x) => str(x, 'userId', NAME)),
    ...opt('subjectId', (x) => str(x, 'subjectId', ID)),
    ...opt('digest', (x) => str(x, 'digest', /^[0-9a-f]{64}$/)),
    ...opt('decision', (x) => str(x, 'decision', AUDIT_WORD)),
    ...opt('code', (x) => str(x, 'code', /^ERR_[A-Z0-9_]{1,60}$/)),
    ...opt('dropped', (x) => int(x, 'dropped', 0, Number.MAX_SAFE_INTEGER)),
  } as AuditRecordBody;
}

/** Parses a `change.approve` body. */
export function parseChangeApprove(v: unknown): ChangeApproveBody {
  const o = obj(v, 'change.approve', ['changeId', 'decision', 'signature']);
  if (o.decision !== 'approve' && o.decision !== 'reject') fail('decision', 'approve or reject');
  return { changeId: str(o.changeId, 'changeId', ID), decision: o.decision, signature: str(o.signature, 'signature', /^[A-Za-z0-9+/=]{1,128}$/) };
}
