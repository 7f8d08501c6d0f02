// Both sides of the coordinator link. The threshold ECDSA (DKLs23, scheme 'dkls23-secp256k1')
// request bodies: a generic round relay that carries the round-based parties' messages
// (enclave/mpc/ecdsa/party.ts) base64-encoded, for key generation (`ecdsa.dkg`), signing
// (`sign.round`, after `sign.commit`) and key refresh (`ecdsa.refresh`, `ecdsa.refresh.commit`).
// The payloads are the protocol's compact binary encoding; here only their count and size are
// bounded (every byte of a payload is checked by the protocol code that decodes it).
import { CosignerError } from '../errors.ts';
import { arr, ID, int, NAME, obj, str } from './messages.ts';
import type { WireEcdsaMessage } from './mpc-wire.ts';

export type { WireEcdsaMessage };

/**
 * Most messages in one relay batch. A round of one party sends at most one broadcast and one
 * message per peer (≤ 16 participants), and a batch carries at most the 15 other parties' rounds.
 */
export const MAX_ECDSA_MESSAGES = 15 * 16;
/**
 * Most base64 characters of one batch (all payloads together): the envelope body is at most
 * 200 KiB of JSON (proto/coordinator.schema.json), so a larger batch could not be framed anyway.
 */
export const MAX_ECDSA_BATCH_B64 = 192 * 1024;
/** Most protocol rounds a relay accepts (DKG, refresh); signing has exactly 3 at the co-signer. */
export const MAX_ECDSA_ROUNDS = 16;

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DERIVED_KEY_ID = /^[A-Za-z0-9._:-]{1,128}(?:\/[0-9]{1,10}){0,10}$/;

function fail(field: string, why: string): never {
  throw new CosignerError('ERR_INVALID_ARGUMENT', `${field}: ${why}`, { details: { field } });
}

/**
 * Parses a batch of relayed messages: at most MAX_ECDSA_MESSAGES, identifiers 0..255 (`to` 0 =
 * broadcast, `from` 1..255), canonical non-empty base64, MAX_ECDSA_BATCH_B64 characters in all.
 */
export function parseEcdsaMessages(v: unknown, field = 'messages'): WireEcdsaMessage[] {
  let total = 0;
  return arr(v, field, MAX_ECDSA_MESSAGES, (x, f) => {
    const m = obj(x, f, ['from', 'to', 'payload']);
    const payload = str(m.payload, `${f}.payload`, B64, MAX_ECDSA_BATCH_B64);
    if (payload.length === 0) fail(`${f}.payload`, 'empty');
    total += payload.length;
    if (total > MAX_ECDSA_BATCH_B64) fail(field, `more than ${MAX_ECDSA_BATCH_B64} base64 characters in one batch`);
    return { from: int(m.from, `${f}.from`, 1, 255), to: int(m.to, `${f}.to`, 0, 255), payload };
  });
}

/** The reply of every relay request: the messages addressed to the asking side. */
export function parseEcdsaReply(v: unknown, what: string): WireEcdsaMessage[] {
  const o = obj(v, what, ['messages']);
  return parseEcdsaMessages(o.messages);
}

/** Wire form of protocol messages (payload bytes → base64). */
export function toWireMessages(ms: readonly { from: number; to: number; payload: Uint8Array }[]): WireEcdsaMessage[] {
  return ms.map((m) => ({ from: m.from, to: m.to, payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).toString('base64') }));
}

/** Protocol messages from their wire form (already parsed: canonical base64). */
export function fromWireMessages(ms: readonly WireEcdsaMessage[]): { from: number; to: number; payload: Uint8Array }[] {
  return ms.map((m) => ({ from: m.from, to: m.to, payload: Uint8Array.from(Buffer.from(m.payload, 'base64')) }));
}

/** c2s `ecdsa.dkg`: round `round` of the DKLs23 key generation of a pairing. Reply: { messages }. */
export interface EcdsaDkgBody {
  readonly pairingId: string;
  readonly scheme: 'dkls23-secp256k1';
  readonly round: number;
  readonly messages: readonly WireEcdsaMessage[];
}

export function parseEcdsaDkg(v: unknown): EcdsaDkgBody {
  const o = obj(v, 'ecdsa.dkg', ['pairingId', 'scheme', 'round', 'messages']);
  if (o.scheme !== 'dkls23-secp256k1') fail('scheme', 'ecdsa.dkg is for dkls23-secp256k1 only');
  return { pairingId: str(o.pairingId, 'pairingId', ID), scheme: o.scheme, round: int(o.round, 'round', 1, MAX_ECDSA_ROUNDS), messages: parseEcdsaMessages(o.messages) };
}

/**
 * s2c `sign.round`: round 2 or 3 of an ECDSA session opened by `sign.commit` (whose reply carried
 * the co-signer's round-1 messages). `messages` are the other signers' messages of the previous
 * round addressed to the co-signer; the reply's are the co-signer's of `round`.
 */
export interface SignRoundBody {
  readonly sessionId: string;
  /** The derived key id the sign.commit reply named. */
  readonly keyId: string;
  /** SHA-256 hex of the 32-byte digest signed (as in the sign.commit reply). */
  readonly messageDigest: string;
  readonly round: 2 | 3;
  readonly messages: readonly WireEcdsaMessage[];
}

export function parseSignRound(v: unknown): SignRoundBody {
  const o = obj(v, 'sign.round', ['sessionId', 'keyId', 'messageDigest', 'round', 'messages']);
  return {
    sessionId: str(o.sessionId, 'sessionId', ID),
    keyId: str(o.keyId, 'keyId', DERIVED_KEY_ID),
    messageDigest: str(o.messageDigest, 'messageDigest', /^[0-9a-f]{64}$/),
    round: int(o.round, 'round', 2, 3) as 2 | 3,
    messages: parseEcdsaMessages(o.messages),
  };
}

/**
 * c2s `ecdsa.refresh`: round `round` of the key refresh of one user's ECDSA key (new shares of the
 * same key, new pairwise OT state). `refreshId` names the run; the co-signer picks it. Reply: { messages }.
 */
export interface EcdsaRefreshBody {
  readonly refreshId: string;
  readonly userId: string;
  readonly keyId: string;
  /**
   * The co-signer's current verifying shares of the key: which shares it refreshes from (the
   * coordinator's committed ones, or refreshed ones it kept aside whose commit was lost).
   */
  readonly verifyingShares: Readonly<Record<string, string>>;
  readonly round: number;
  readonly messages: readonly WireEcdsaMessage[];
}

export function parseEcdsaRefresh(v: unknown): EcdsaRefreshBody {
  const o = obj(v, 'ecdsa.refresh', ['refreshId', 'userId', 'keyId', 'verifyingShares', 'round', 'messages']);
  return {
    refreshId: str(o.refreshId, 'refreshId', ID),
    userId: str(o.userId, 'userId', NAME),
    keyId: str(o.keyId, 'keyId', ID),
    verifyingShares: parseVerifyingShares(o.verifyingShares),
    round: int(o.round, 'round', 1, MAX_ECDSA_ROUNDS),
    messages: parseEcdsaMessages(o.messages),
  };
}

/**
 * c2s `ecdsa.refresh.commit`: the co-signer sealed the refreshed share (same key, `groupPublicKey`
 * unchanged; `verifyingShares` the new ones). Until this arrives the coordinator keeps its previous
 * shares as the ones it signs with (docs/ecdsa.md, "Refresh and its crash window").
 */
export interface EcdsaRefreshCommitBody {
  readonly refreshId: string;
  readonly userId: string;
  readonly keyId: string;
  readonly groupPublicKey: string;
  readonly verifyingShares: Readonly<Record<string, string>>;
}

/** Identifier → compressed secp256k1 point (hex), at most 16 entries. */
function parseVerifyingShares(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length > 16) fail('verifyingShares', 'expected at most 16 entries');
  const shares: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!/^[1-9][0-9]{0,2}$/.test(k) || Number(k) > 255) fail('verifyingShares', 'keys are identifiers 1..255');
    shares[k] = str(x, `verifyingShares.${k}`, /^0[23][0-9a-f]{64}$/);
  }
  return shares;
}

export function parseEcdsaRefreshCommit(v: unknown): EcdsaRefreshCommitBody {
  const o = obj(v, 'ecdsa.refresh.commit', ['refreshId', 'userId', 'keyId', 'groupPublicKey', 'verifyingShares']);
  const shares = parseVerifyingShares(o.verifyingShares);
  return {
    refreshId: str(o.refreshId, 'refreshId', ID),
    userId: str(o.userId, 'userId', NAME),
    keyId: str(o.keyId, 'keyId', ID),
    groupPublicKey: str(o.groupPublicKey, 'groupPublicKey', /^0[23][0-9a-f]{64}$/),
    verifyingShares: shares,
  };
}
