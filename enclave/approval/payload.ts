// Runs in the enclave. The two request bodies a Callback Handler sees (`tx_sign_request`,
// `config_change_sign_request`), built from what the coordinator sends. The coordinator is remote and
// its bytes are hostile input, so everything is checked strictly here: known fields only, bounded
// sizes, hex where hex is expected. The serialized bytes are what the handler approves; their digest
// binds the later signature to that approval (checkSignedMessagesMatch).
import { createHash, timingSafeEqual } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';

/** Upper bound of one serialized request payload (the handler-facing JSON). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAX_ID = 128;
const MAX_NOTE = 2048;
const MAX_DESTINATIONS = 64;
const MAX_RAW_TX = 64;
const MAX_PLAYERS = 16;
const MAX_RAW_TX_HEX = 32 * 1024;
// A Solana message (≤ 1,232-byte transactions) is signed as it is, not as a digest.
const MAX_SIGNED_PAYLOAD_HEX = 4 * 1024;
const MAX_OBJECT_JSON = 16 * 1024;
const MAX_DEPTH = 4;

const ID_RE = /^[A-Za-z0-9._:@/+-]*$/;
const ENUM_RE = /^[A-Z][A-Z0-9_]{0,47}$/;
const DECIMAL_RE = /^-?\d{1,40}(\.\d{1,40})?$/;
const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;
// "[ ]" (the base key itself) included.
const DERIVATION_RE = /^\[\s*(?:\d{1,10}(?:\s*,\s*\d{1,10}){0,9})?\s*\]$/;

/**
 * The published operations. Any other well-formed operation (enum text) still reaches the user's
 * Callback Handler, which decides; without a handler the co-signer refuses it (policy.ts).
 */
export const TX_OPERATIONS = [
  'TRANSFER', 'CONTRACT_CALL', 'RAW', 'TYPED_MESSAGE', 'MINT', 'BURN', 'PROGRAM_CALL', 'APPROVE',
  'ENABLE_ASSET', 'STAKE', 'UNSTAKE', 'WITHDRAW', 'REDEEM_FROM_COMPOUND', 'SUPPLY_TO_COMPOUND',
] as const;

/** The published configuration change types (others: as for operations). */
export const CONFIG_CHANGE_TYPES = [
  'UNMANAGED_WALLET', 'EXCHANGE', 'FIAT_ACCOUNT', 'POLICY_APPROVAL', 'POLICY_CHANGE', 'ADD_USER',
  'RE_ENROLL_DEVICE', 'ENABLE_ONE_TIME_ADDRESS', 'CHANGE_QUORUM_THRESHOLD', 'ADD_NETWORK_CONNECTION',
  'SET_NETWORK_CONNECTION_ROUTING_POLICY', 'SET_NETWORK_ID_POLICY', 'UPDATE_APPROVAL_GROUP_MAPPING',
  'USERS_GROUP_APPROVAL',
] as const;

/** One rule-engine verdict attached to a destination. */
export interface ActionInfo {
  capturedRuleNum?: number;
  rulesSnapshotId?: number;
  byGlobalPolicy?: boolean;
  byRule?: boolean;
  capturedRule?: string;
}

/** One destination of a transaction, as handlers read it. */
export interface TxDestination {
  amountNative?: number;
  amountNativeStr?: string;
  amountUSD?: number;
  dstAddressType?: string;
  dstId?: string;
  dstWalletId?: string;
  dstName?: string;
  dstSubType?: string;
  dstType?: string;
  /** signing stage only */
  displayDstAddress?: string;
  action?: string;
  actionInfo?: ActionInfo;
}

/** What is actually signed, signing stage only. `payload` is the hex message digest to sign. */
export interface RawTxEntry {
  keyDerivationPath: string;
  rawTx: string;
  payload: string;
  /** How `rawTx` is read (docs/callback-handler.md, "Raw transactions by format"); signing stage. */
  format?: string;
}

/** The `tx_sign_request` body exactly as the handler sees it (field names are the published ones). */
export interface TxSignRequest {
  txId: string;
  operation: string;
  sourceType?: string;
  sourceId?: string;
  destType?: string;
  destId?: string;
  asset?: string;
  amount?: number;
  amountStr?: string;
  requestedAmount?: number;
  requestedAmountStr?: string;
  fee?: string;
  destAddressType?: string;
  destAddress?: string;
  note?: string;
  extraParameters?: Record<string, unknown>;
  destinations?: TxDestination[];
  rawTx?: RawTxEntry[];
  players?: string[];
  requestId: string;
  externalTxId?: string;
  signerId: string;
}

/** The `config_change_sign_request` body exactly as the handler sees it. */
export interface ConfigChangeSignRequest {
  requestId: string;
  signerId: string;
  type: string;
  extraInfo: Record<string, unknown>;
}

/** Which stage a transaction request is in: approval (no rawTx, no fee) or signing. */
export type Stage = 'approve' | 'sign';

type Obj = Record<string, unknown>;

function bad(field: string, why: string): CosignerError {
  return new CosignerError('ERR_INVALID_ARGUMENT', `${field} ${why}`, { details: { field } });
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function strictObj(v: unknown, field: string, allowed: readonly string[]): Obj {
  if (!isObj(v)) throw bad(field, 'must be an object');
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw bad(`${field}.${k.slice(0, 64)}`, 'is not a known field');
  return v;
}

function str(v: unknown, field: string, max: number, re?: RegExp): string {
  if (typeof v !== 'string') throw bad(field, 'must be a string');
  if (v.length > max) throw bad(field, `is longer than ${max} characters`);
  if (re && !re.test(v)) throw bad(field, 'has an unexpected format');
  // Control characters have no business in these fields and confuse log readers.
  if (/[\u0000-\u001f\u007f]/.test(v)) throw bad(field, 'contains control characters');
  return v;
}

function num(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(field, 'must be a finite number');
  return v;
}

function int(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field, 'must be a non-negative integer');
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw bad(field, 'must be a boolean');
  return v;
}

/** A free-form JSON object (extraParameters, extraInfo): plain data only, bounded depth and size. */
function jsonObject(v: unknown, field: string): Record<string, unknown> {
  if (!isObj(v)) throw bad(field, 'must be an object');
  const walk = (x: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw bad(field, `nests deeper than ${MAX_DEPTH}`);
    if (x === null || typeof x === 'string' || typeof x === 'boolean') return;
    if (typeof x === 'number') {
      if (!Number.isFinite(x)) throw bad(field, 'holds a non-finite number');
      return;
    }
    if (Array.isArray(x)) return x.forEach((e) => walk(e, depth + 1));
    if (isObj(x)) return Object.values(x).forEach((e) => walk(e, depth + 1));
    throw bad(field, 'holds a value that is not JSON data');
  };
  walk(v, 0);
  if (JSON.stringify(v).length > MAX_OBJECT_JSON) throw bad(field, `is larger than ${MAX_OBJECT_JSON} bytes`);
  return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
}

function list<T>(v: unknown, field: string, max: number, each: (x: unknown, f: string) => T): T[] {
  if (!Array.isArray(v)) throw bad(field, 'must be an array');
  if (v.length > max) throw bad(field, `has more than ${max} entries`);
  return v.map((x, i) => each(x, `${field}[${i}]`));
}

/** Copies `keys` that are present (not undefined) from src through `check`, in the given order. */
function pick<T extends object>(src: Obj, spec: ReadonlyArray<readonly [string, (v: unknown, f: string) => unknown]>, field: string): T {
  const out: Obj = {};
  for (const [k, check] of spec) {
    if (src[k] !== undefined) out[k] = check(src[k], `${field}.${k}`);
  }
  return out as T;
}

const id = (v: unknown, f: string): string => str(v, f, MAX_ID, ID_RE);
const name = (v: unknown, f: string): string => str(v, f, MAX_ID * 2);
const enumText = (v: unknown, f: string): string => str(v, f, 48, ENUM_RE);
const enumOrEmpty = (v: unknown, f: string): string => (v === '' ? '' : enumText(v, f));
const decimal = (v: unknown, f: string): string => str(v, f, 82, DECIMAL_RE);
const address = (v: unknown, f: string): string => str(v, f, 256);

function actionInfo(v: unknown, f: string): ActionInfo {
  const o = strictObj(v, f, ['capturedRuleNum', 'rulesSnapshotId', 'byGlobalPolicy', 'byRule', 'capturedRule']);
  return pick<ActionInfo>(o, [
    ['capturedRuleNum', int], ['rulesSnapshotId', int], ['byGlobalPolicy', bool], ['byRule', bool],
    ['capturedRule', (x, g) => str(x, g, MAX_OBJECT_JSON)],
  ], f);
}

function destination(stage: Stage) {
  return (v: unknown, f: string): TxDestination => {
    const fields = ['amountNative', 'amountNativeStr', 'amountUSD', 'dstAddressType', 'dstId', 'dstWalletId', 'dstName', 'dstSubType', 'dstType', 'displayDstAddress', 'action', 'actionInfo'];
    const o = strictObj(v, f, fields);
    const d = pick<TxDestination>(o, [
      ['amountNative', num], ['amountNativeStr', decimal], ['amountUSD', num], ['dstAddressType', enumOrEmpty],
      ['dstId', id], ['dstWalletId', id], ['dstName', name], ['dstSubType', enumOrEmpty], ['dstType', enumOrEmpty],
      ['displayDstAddress', address], ['action', enumOrEmpty], ['actionInfo', actionInfo],
    ], f);
    if (stage === 'approve') delete d.displayDstAddress; // published as signing-stage only
    return d;
  };
}

function hexOf(v: unknown, f: string, maxChars: number, minBytes: number): string {
  const s = str(v, f, maxChars, HEX_RE);
  if (s.length / 2 < minBytes) throw bad(f, `must hold at least ${minBytes} byte(s)`);
  return s.toLowerCase();
}

function rawTxEntry(v: unknown, f: string): RawTxEntry {
  const o = strictObj(v, f, ['keyDerivationPath', 'rawTx', 'payload', 'format']);
  return {
    keyDerivationPath: str(o.keyDerivationPath, `${f}.keyDerivationPath`, 128, DERIVATION_RE),
    rawTx: o.rawTx === undefined || o.rawTx === '' ? '' : hexOf(o.rawTx, `${f}.rawTx`, MAX_RAW_TX_HEX, 1),
    payload: hexOf(o.payload, `${f}.payload`, MAX_SIGNED_PAYLOAD_HEX, 1),
    ...(o.format === undefined ? {} : { format: str(o.format, `${f}.format`, 32, /^[a-z0-9-]{1,32}$/) }),
  };
}

/** The batch suffix a requestId may add to its txId: "-<n>", n 1..9999 without leading zeros. */
const BATCH_SUFFIX_RE = /^-[1-9][0-9]{0,3}$/;

/**
 * The published relation of a handler's `requestId` to `txId`: equal, or `txId` plus a batch
 * suffix (one transaction signed in several requests). Anything else could make a handler that
 * keys its decisions on `requestId` apply one transaction's decision to another.
 */
export function isRequestIdOf(requestId: string, txId: string): boolean {
  return requestId === txId || (requestId.startsWith(txId) && BATCH_SUFFIX_RE.test(requestId.slice(txId.length)));
}

/** True for an operation of the published list. */
export function isKnownOperation(operation: string): boolean {
  return (TX_OPERATIONS as readonly string[]).includes(operation);
}

/** True for a configuration change type of the published list. */
export function isKnownConfigType(type: string): boolean {
  return (CONFIG_CHANGE_TYPES as readonly string[]).includes(type);
}

const TX_FIELDS = [
  'txId', 'operation', 'sourceType', 'sourceId', 'destType', 'destId', 'asset', 'amount', 'amountStr',
  'requestedAmount', 'requestedAmountStr', 'fee', 'destAddressType', 'destAddress', 'note',
  'extraParameters', 'destinations', 'rawTx', 'players', 'requestId', 'externalTxId', 'signerId',
] as const;

/**
 * Builds the `tx_sign_request` a handler sees from the coordinator's transaction description
 * (a JSON object with the published field names; anything unknown is refused). At the approval
 * stage the signing-only fields (`fee`, `rawTx`, `displayDstAddress`) are dropped; at the signing
 * stage `rawTx` is required, since it is what the co-signer will sign.
 *
 * @example
 * const req = buildTxSignRequest(coordinatorTx, { signerId: user.id, stage: 'sign' });
 */
export function buildTxSignRequest(input: unknown, ctx: { signerId: string; stage: Stage }): TxSignRequest {
  const o = strictObj(input, 'tx', TX_FIELDS);
  if (o.signerId !== undefined && o.signerId !== ctx.signerId) throw bad('tx.signerId', 'names a different API user');
  const txId = id(o.txId, 'tx.txId');
  if (txId === '') throw bad('tx.txId', 'is required');
  const requestId = o.requestId === undefined ? txId : id(o.requestId, 'tx.requestId');
  if (!isRequestIdOf(requestId, txId)) throw bad('tx.requestId', 'must be the txId, or the txId followed by a batch suffix "-<n>" (n 1..9999)');
  const operation = o.operation === undefined ? 'TRANSFER' : enumText(o.operation, 'tx.operation');
  const rest = pick<Partial<TxSignRequest>>(o, [
    ['sourceType', enumOrEmpty], ['sourceId', id], ['destType', enumOrEmpty], ['destId', id], ['asset', id],
    ['amount', num], ['amountStr', decimal], ['requestedAmount', num], ['requestedAmountStr', decimal],
    ['fee', decimal], ['destAddressType', enumOrEmpty], ['destAddress', address],
    ['note', (v, f) => str(v, f, MAX_NOTE)], ['extraParameters', jsonObject],
    ['destinations', (v, f) => list(v, f, MAX_DESTINATIONS, destination(ctx.stage))],
    ['rawTx', (v, f) => list(v, f, MAX_RAW_TX, rawTxEntry)],
    ['players', (v, f) => list(v, f, MAX_PLAYERS, id)],
    ['externalTxId', id],
  ], 'tx');
  if (ctx.stage === 'approve') {
    delete rest.fee;
    delete rest.rawTx;
  } else if (!rest.rawTx || rest.rawTx.length === 0) {
    throw bad('tx.rawTx', 'is required at the signing stage (it is what gets signed)');
  }
  // Key order is fixed here so the serialized bytes (and their digest) do not depend on the
  // coordinator's field order.
  const out: TxSignRequest = { txId, operation, ...rest, requestId, signerId: ctx.signerId };
  const ordered = Object.fromEntries(TX_FIELDS.filter((k) => out[k] !== undefined).map((k) => [k, out[k]])) as unknown as TxSignRequest;
  checkSize(ordered);
  return ordered;
}

/**
 * Builds the `config_change_sign_request` a handler sees. `extraInfo` is free-form data (its shape
 * depends on `type`) and is bounded in depth and size.
 */
export function buildConfigChangeSignRequest(input: unknown, ctx: { signerId: string }): ConfigChangeSignRequest {
  const o = strictObj(input, 'config', ['requestId', 'signerId', 'type', 'extraInfo']);
  if (o.signerId !== undefined && o.signerId !== ctx.signerId) throw bad('config.signerId', 'names a different API user');
  const requestId = id(o.requestId, 'config.requestId');
  if (requestId === '') throw bad('config.requestId', 'is required');
  const type = enumText(o.type, 'config.type');
  const extraInfo = o.extraInfo === undefined ? {} : jsonObject(o.extraInfo, 'config.extraInfo');
  const out: ConfigChangeSignRequest = { requestId, signerId: ctx.signerId, type, extraInfo };
  checkSize(out);
  return out;
}

function checkSize(p: TxSignRequest | ConfigChangeSignRequest): void {
  if (serializePayload(p).length > MAX_PAYLOAD_BYTES) throw bad('request', `serializes to more than ${MAX_PAYLOAD_BYTES} bytes`);
}

/** The exact bytes sent to the handler (the JWS payload, or the JSON body in certificate modes). */
export function serializePayload(p: TxSignRequest | ConfigChangeSignRequest): Buffer {
  return Buffer.from(JSON.stringify(p), 'utf8');
}

/** Hex SHA-256 of `bytes`, or of the serialized payload. */
export function payloadDigest(p: TxSignRequest | ConfigChangeSignRequest | Uint8Array): string {
  const bytes = p instanceof Uint8Array ? p : serializePayload(p);
  return createHash('sha256').update(bytes).digest('hex');
}

/** A request the handler approved, with the digest of the exact bytes it saw (ApprovalDecision.payloadDigest). */
export interface ApprovedPayload {
  readonly request: TxSignRequest;
  readonly payloadDigest: string;
}

/**
 * Throws ERR_MESSAGE_MISMATCH unless `messagesToSign` are exactly the `rawTx[].payload` values of the
 * approved request, in order, and the request still serializes to the approved digest. This is what
 * stops a coordinator from getting an approval for one transaction and a signature on another.
 */
export function checkSignedMessagesMatch(approved: ApprovedPayload, messagesToSign: readonly (string | Uint8Array)[]): void {
  const mismatch = (why: string): CosignerError => new CosignerError('ERR_MESSAGE_MISMATCH', `messages to sign do not match the approved request: ${why}`);
  const digest = Buffer.from(payloadDigest(approved.request), 'hex');
  const expected = Buffer.from(approved.payloadDigest, 'hex');
  if (expected.length !== 32 || !timingSafeEqual(digest, expected)) throw mismatch('the request changed after approval');
  const raw = approved.request.rawTx ?? [];
  if (raw.length === 0) throw mismatch('the approved request carries no rawTx');
  if (raw.length !== messagesToSign.length) throw mismatch(`${messagesToSign.length} message(s) but ${raw.length} approved`);
  raw.forEach((entry, i) => {
    const m = messagesToSign[i];
    const hex = typeof m === 'string' ? m.toLowerCase() : Buffer.from(m ?? new Uint8Array()).toString('hex');
    if (hex !== entry.payload) throw mismatch(`message ${i} differs from rawTx[${i}].payload`);
  });
}
