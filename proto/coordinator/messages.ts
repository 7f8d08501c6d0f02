// Both sides of the coordinator link. The request bodies of proto/coordinator.schema.json as
// TypeScript types, with strict parsers for the ones the enclave receives (unknown fields are an
// error; every string, array and number is bounded).
import { CosignerError } from '../errors.ts';
import type { ThresholdScheme, WireCommitment, WireDkgRound1, WireDkgRound2, WireEcdsaMessage } from './mpc-wire.ts';

/**
 * The handler-facing transaction fields a `sign.commit` carries: the published `tx_sign_request`
 * field names except `rawTx` (built from the entries) and `signerId` (the co-signer sets it). The
 * enclave checks each value against the same bounds it applies to what a handler is sent
 * (enclave/approval/payload.ts); here only the names and the overall size are checked.
 */
export const SIGN_COMMIT_TX_FIELDS = [
  'txId', 'requestId', 'externalTxId', 'operation', 'sourceType', 'sourceId', 'destType', 'destId', 'asset',
  'amount', 'amountStr', 'requestedAmount', 'requestedAmountStr', 'fee', 'destAddressType', 'destAddress',
  'note', 'extraParameters', 'destinations', 'players',
] as const;

/** How a rawTx entry's bytes are read (the enclave recomputes `payload` from `rawTx` by format). */
export const SIGN_FORMATS = ['raw', 'bitcoin-psbt', 'solana', 'ethereum'] as const;
export type SignFormat = (typeof SIGN_FORMATS)[number];

/** The transaction description of a `sign.commit` (what the handler reads, minus rawTx and signerId). */
export type TransactionInfo = Readonly<Record<string, unknown>> & { readonly txId: string };

/** One message to sign: one FROST session with the key derived from `keyId` at `keyDerivationPath`. */
export interface SignEntry {
  readonly sessionId: string;
  /** The base key (as stored at pairing); the session binds to the derived key's id. */
  readonly keyId: string;
  /** Handler-facing text form, "[ 44, 0, 0, 0, 0 ]"; "[ ]" is the base key itself. */
  readonly keyDerivationPath: string;
  readonly format: SignFormat;
  /** The unsigned transaction, hex. */
  readonly rawTx: string;
  /** Exactly what is signed, hex. */
  readonly payload: string;
}

/** s2c `sign.commit`: approve one transaction and open one session per entry. */
export interface SignCommitBody {
  readonly userId: string;
  readonly signers: readonly number[];
  readonly transaction: TransactionInfo;
  readonly rawTx: readonly SignEntry[];
}

/** One opened session of a `sign.commit` reply. */
export interface SignCommitSession {
  readonly sessionId: string;
  /** The derived key id: what `sign.share` must name. */
  readonly keyId: string;
  /** The derived key as a standard verifier takes it, hex. */
  readonly publicKey: string;
  /** FROST keys: this participant's round-1 commitment. */
  readonly commitment?: WireCommitment;
  /** dkls23-secp256k1 keys: the co-signer's round-1 messages (rounds 2 and 3: `sign.round`). */
  readonly messages?: readonly WireEcdsaMessage[];
  readonly messageDigest: string;
}

/** The `sign.commit` reply. */
export interface SignCommitResult {
  readonly sessions: readonly SignCommitSession[];
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
const DERIVED_KEY_ID = /^[A-Za-z0-9._:-]{1,128}(?:\/[0-9]{1,10}){0,10}$/;

/** Most entries (sessions) one `sign.commit` opens. */
export const MAX_SIGN_ENTRIES = 64;
/** Bounds of one entry's hex: rawTx (a transaction) and payload (the signed message or digest). */
export const MAX_SIGN_RAW_TX_HEX = 32 * 1024;
export const MAX_SIGN_PAYLOAD_HEX = 4 * 1024;
const MAX_TRANSACTION_JSON = 48 * 1024;
const PATH_TEXT = /^\[[ 0-9,]{0,158}\]$/;

function signEntry(x: unknown, f: string): SignEntry {
  const e = obj(x, f, ['sessionId', 'keyId', 'keyDerivationPath', 'format', 'rawTx', 'payload']);
  if (!(SIGN_FORMATS as readonly unknown[]).includes(e.format)) fail(`${f}.format`, `one of ${SIGN_FORMATS.join(', ')}`);
  return {
    sessionId: str(e.sessionId, `${f}.sessionId`, ID),
    keyId: str(e.keyId, `${f}.keyId`, ID),
    keyDerivationPath: str(e.keyDerivationPath, `${f}.keyDerivationPath`, PATH_TEXT, 160),
    format: e.format as SignFormat,
    rawTx: str(e.rawTx, `${f}.rawTx`, /^(?:[0-9a-f]{2})+$/, MAX_SIGN_RAW_TX_HEX),
    payload: str(e.payload, `${f}.payload`, /^(?:[0-9a-f]{2})+$/, MAX_SIGN_PAYLOAD_HEX),
  };
}

/**
 * Parses a `sign.commit` body: 1..64 entries with distinct session ids, known transaction field
 * names only, bounded sizes. The transaction values are checked by the enclave (payload.ts).
 */
export function parseSignCommit(v: unknown): SignCommitBody {
  const o = obj(v, 'sign.commit', ['userId', 'signers', 'transaction', 'rawTx']);
  const t = obj(o.transaction, 'transaction', ['txId'], SIGN_COMMIT_TX_FIELDS);
  if (JSON.stringify(t).length > MAX_TRANSACTION_JSON) fail('transaction', 'too large');
  const entries = arr(o.rawTx, 'rawTx', MAX_SIGN_ENTRIES, signEntry);
  if (entries.length === 0) fail('rawTx', 'at least one entry');
  if (new Set(entries.map((e) => e.sessionId)).size !== entries.length) fail('rawTx', 'session ids must be distinct');
  return {
    userId: str(o.userId, 'userId', NAME),
    signers: arr(o.signers, 'signers', 16, (x, f) => int(x, f, 1, 255)),
    transaction: { ...t, txId: str(t.txId, 'transaction.txId', ID) },
    rawTx: entries,
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
    // A derived key id: the base key id, then the path ("…/44/0/0/0/0", enclave/mpc/derivation.ts).
    keyId: str(o.keyId, 'keyId', DERIVED_KEY_ID),
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
