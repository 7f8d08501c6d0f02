// Reference coordinator (test stand-in, loopback only). A transaction: validated, checked against
// the Transaction Authorization Policy, approved by the co-signer's user when the policy asks, then
// signed with the co-signer (FROST / threshold Schnorr rounds), aggregated and verified.
import { randomUUID } from 'node:crypto';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { isThresholdScheme } from '../../enclave/mpc/suites.ts';
import { canonicalDigest, verifyApproval } from '../../proto/coordinator/approval-signature.ts';
import type { PeerConnection } from '../../proto/coordinator/connection.ts';
import type { ThresholdScheme } from '../../enclave/vault/records.ts';
import { evaluatePolicy } from './policy.ts';
import { MAX_SIGN_ENTRIES, SIGN_COMMIT_TX_FIELDS, SIGN_FORMATS } from '../../proto/coordinator/messages.ts';
import { connFor, type CoordinatorState, type TimingBreakdown, type TransactionEntry, type TransactionRecord, type UserEntry, type UserKey } from './state.ts';
import { signEntries } from './tx-sign.ts';

const AMOUNT = /^[0-9]{1,30}(\.[0-9]{1,18})?$/;
/** Handler-facing fields a caller may give (txId and requestId are the coordinator's). */
const CALLER_FIELDS = SIGN_COMMIT_TX_FIELDS.filter((k) => k !== 'txId' && k !== 'requestId');
const FORMATS: readonly string[] = SIGN_FORMATS;

function need(v: unknown, name: string, re: RegExp): string {
  if (typeof v !== 'string' || !re.test(v)) throw new CosignerError('ERR_INVALID_ARGUMENT', `bad ${name}`);
  return v;
}

/** `rawTx: [{keyDerivationPath, format, rawTx, payload}]` of a full description (the co-signer checks each strictly). */
function parseEntries(v: unknown): TransactionEntry[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_SIGN_ENTRIES) throw new CosignerError('ERR_INVALID_ARGUMENT', `rawTx must hold 1..${MAX_SIGN_ENTRIES} entries`);
  return v.map((x: unknown, i) => {
    const e = (x ?? {}) as Record<string, unknown>;
    const extra = Object.keys(e).find((k) => !['keyDerivationPath', 'format', 'rawTx', 'payload'].includes(k));
    if (extra !== undefined) throw new CosignerError('ERR_INVALID_ARGUMENT', `rawTx[${i}]: unknown field`);
    return {
      keyDerivationPath: need(e.keyDerivationPath, `rawTx[${i}].keyDerivationPath`, /^\[[ 0-9,]{0,158}\]$/),
      format: need(e.format ?? 'raw', `rawTx[${i}].format`, /^[a-z-]{1,16}$/) as TransactionEntry['format'],
      rawTx: need(e.rawTx, `rawTx[${i}].rawTx`, /^(?:[0-9a-f]{2}){1,16384}$/),
      payload: need(e.payload, `rawTx[${i}].payload`, /^(?:[0-9a-f]{2}){1,1024}$/),
    };
  }).map((e) => {
    if (!FORMATS.includes(e.format)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'bad rawTx format');
    return e;
  });
}

/**
 * Validate a transaction request into a pending record (not yet stored). Two bodies: the full
 * description (handler-facing fields plus `rawTx` entries) or the original short one
 * (`asset, amount, destination, payload`), which signs `payload` as one `raw` entry with the base key.
 */
function parseTransaction(st: CoordinatorState, input: unknown): { tx: TransactionRecord; user: UserEntry; ukey: UserKey } {
  const i = (input ?? {}) as Record<string, unknown>;
  const user = st.users.get(String(i.userId));
  if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
  const scheme = (i.scheme ?? 'frost-ed25519') as ThresholdScheme;
  if (!isThresholdScheme(scheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'bad scheme');
  const ukey = user.keys.find((k) => k.scheme === scheme);
  if (!ukey) throw new CosignerError('ERR_NOT_FOUND', 'user has no key for this scheme');
  const id = randomUUID();
  const base = { id, userId: user.id, scheme, status: 'pending' as const };
  if (i.rawTx === undefined) {
    const asset = need(i.asset, 'asset', /^[A-Za-z0-9._-]{1,32}$/);
    const amount = need(i.amount, 'amount', AMOUNT);
    const destination = need(i.destination, 'destination', /^[A-Za-z0-9:._-]{1,128}$/);
    const payload = need(i.payload, 'payload', /^(?:[0-9a-f]{2}){1,1024}$/);
    const request = { txId: id, asset, amountStr: amount, requestedAmountStr: amount, destAddress: destination };
    return { tx: { ...base, request, entries: [{ keyDerivationPath: '[ ]', format: 'raw', rawTx: payload, payload }], asset, amount, destination, payload }, user, ukey };
  }
  const fields: Record<string, unknown> = { txId: id };
  for (const [k, v] of Object.entries(i)) {
    if (k === 'userId' || k === 'scheme' || k === 'rawTx') continue;
    if (!(CALLER_FIELDS as readonly string[]).includes(k)) throw new CosignerError('ERR_INVALID_ARGUMENT', `unknown field ${k.slice(0, 40)}`);
    fields[k] = v;
  }
  const entries = parseEntries(i.rawTx);
  // The Transaction Authorization Policy reads asset, amount and destination.
  const asset = need(fields.asset, 'asset', /^[A-Za-z0-9._-]{1,32}$/);
  const amount = need(fields.amountStr, 'amountStr', AMOUNT);
  const destination = typeof fields.destAddress === 'string' ? fields.destAddress : '';
  return { tx: { ...base, request: fields, entries, asset, amount, destination, payload: entries[0]!.payload }, user, ukey };
}

/** The approval-stage description: the handler-facing fields without the signing-stage ones. */
function approvalPayload(tx: TransactionRecord): Record<string, unknown> {
  const { fee: _fee, ...rest } = tx.request as Record<string, unknown>;
  if (Array.isArray(rest.destinations)) {
    rest.destinations = rest.destinations.map((d: unknown) => {
      const { displayDstAddress: _d, ...kept } = (d ?? {}) as Record<string, unknown>;
      return kept;
    });
  }
  return rest;
}

/** Ask the co-signer's user to approve; true when approved (the signed answer is verified). */
async function requestApproval(conn: PeerConnection, user: UserEntry, tx: TransactionRecord): Promise<boolean> {
  const payload = approvalPayload(tx);
  const r = (await conn.request('approval.request', { userId: user.id, kind: 'transaction', subjectId: tx.id, payload })) as { decision?: string; payloadDigest?: string; signature?: string };
  const payloadDigest = canonicalDigest(payload);
  const decisionWord = r?.decision === 'approve' ? 'approve' : 'reject';
  const ok = typeof r?.signature === 'string' && r.payloadDigest === payloadDigest && verifyApproval(user.approvalPublicKey, { kind: 'transaction', userId: user.id, subjectId: tx.id, payloadDigest, decision: decisionWord }, r.signature);
  if (!ok) throw new CosignerError('ERR_COORDINATOR_AUTH', 'co-signer approval signature does not verify');
  tx.approval = { decision: decisionWord, signature: r.signature as string };
  return decisionWord === 'approve';
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
    await signEntries(st, conn, user, ukey, tx, timings);
    if (!tx.entries.every((e) => e.verified)) throw new CosignerError('ERR_BAD_SHARE', 'a final signature does not verify');
    // The first entry's signature, kept where callers of the short body read it.
    const first = tx.entries[0]!;
    tx.signature = first.signature;
    // The key a standard verifier takes (for a chain-coded Taproot key even the root path is the
    // BIP-86 output key, not the stored internal key).
    tx.publicKey = first.publicKey;
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
