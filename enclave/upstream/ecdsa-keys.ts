// Runs in the enclave. Making and refreshing threshold ECDSA (DKLs23) keys with the coordinator:
// key generation at pairing (`ecdsa.dkg` rounds, then the common `dkg.finish` so the coordinator
// confirms its parties agree), and `cosigner refresh-key` (`ecdsa.refresh` rounds, seal, then
// `ecdsa.refresh.commit`).
//
// Refresh and its crash window: the co-signer seals its refreshed share before it tells the
// coordinator (`ecdsa.refresh.commit`); the coordinator keeps signing with its previous shares, and
// keeps the refreshed ones aside, until that commit arrives. A co-signer that dies before sealing
// still holds the previous share (the coordinator never switched); one that dies after sealing but
// before the commit reaches the coordinator names its current verifying shares in the next
// `ecdsa.refresh`, so the coordinator adopts the refreshed shares it kept aside and starts from
// them (docs/ecdsa.md).
import { randomUUID } from 'node:crypto';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { parseEcdsaReply } from '../../proto/coordinator/ecdsa-messages.ts';
import type { DkgFinishBody } from '../../proto/coordinator/messages.ts';
import type { EcdsaHost } from '../mpc/ecdsa/host/host.ts';
import type { KeyShareRecord } from '../vault/records.ts';
import { cheatMark, relayRun } from './ecdsa-link.ts';
import type { CoordinatorRequester } from './pairing.ts';
import type { UserStore } from './user-store.ts';

/** One relay request may wait for the coordinator's parties' heavy rounds. */
const ROUND_TIMEOUT_MS = 120_000;
const CHAIN_CODE = /^[0-9a-f]{64}$/;
const POINT = /^0[23][0-9a-f]{64}$/;

/** A record the protocol returned is checked against what was asked before it is kept. */
function checkRecord(r: KeyShareRecord, want: { threshold: number; participants: readonly number[]; identifier: number; keyId?: string; groupPublicKey?: string }): KeyShareRecord {
  const bad = (why: string): never => {
    throw new CosignerError('ERR_SESSION_ABORTED', `threshold ECDSA key record refused: ${why}`);
  };
  if (r.scheme !== 'dkls23-secp256k1' || !r.ecdsa) bad('not a dkls23-secp256k1 record');
  if (r.threshold !== want.threshold || r.identifier !== want.identifier || JSON.stringify(r.participants) !== JSON.stringify(want.participants)) bad('another participant set');
  if (!POINT.test(r.groupPublicKey) || typeof r.chainCode !== 'string' || !CHAIN_CODE.test(r.chainCode)) bad('group key or chain code malformed');
  if (want.keyId !== undefined && (r.keyId !== want.keyId || r.groupPublicKey !== want.groupPublicKey)) bad('a refresh must keep the key');
  for (const p of want.participants) if (!POINT.test(r.verifyingShares[String(p)] ?? '')) bad('verifying share missing');
  return r;
}

export interface EcdsaDkgOptions {
  readonly coordinator: CoordinatorRequester;
  readonly host: EcdsaHost;
  readonly now: number;
  readonly signal?: AbortSignal;
}

/** The DKLs23 key generation of one pairing: the co-signer's new key share record (not sealed yet). */
export async function runEcdsaDkg(o: EcdsaDkgOptions, pairingId: string, threshold: number, participants: readonly number[], identifier: number): Promise<KeyShareRecord> {
  const scheme = 'dkls23-secp256k1';
  const result = await relayRun(o.host, `dkg:${pairingId}`, { kind: 'dkg', params: { threshold, participants, identifier, now: o.now } }, identifier, participants, async (round, messages) =>
    parseEcdsaReply(await o.coordinator.request('ecdsa.dkg', { pairingId, scheme, round, messages }, { timeoutMs: ROUND_TIMEOUT_MS }), 'ecdsa.dkg'), o.signal);
  const record = checkRecord(result as KeyShareRecord, { threshold, participants, identifier });
  const finish: DkgFinishBody = { pairingId, scheme, keyId: record.keyId, groupPublicKey: record.groupPublicKey, verifyingShares: record.verifyingShares, chainCode: record.chainCode as string };
  await o.coordinator.request('dkg.finish', finish);
  return record;
}

export interface EcdsaRefreshOptions {
  readonly coordinator: CoordinatorRequester;
  readonly host: EcdsaHost;
  readonly users: UserStore;
  readonly now: number;
  readonly log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;
}

/**
 * `cosigner refresh-key USER KEY`: new shares of the same key with the coordinator, sealed, then
 * committed at the coordinator. Clears the refresh-required mark. Returns the sealed record's
 * public parts. ERR_WRITE_UNACKNOWLEDGED when the refreshed share is sealed but the coordinator's
 * commit could not be confirmed: running refresh-key again settles it (see the file comment).
 */
export async function refreshEcdsaKey(o: EcdsaRefreshOptions, userId: string, keyId: string): Promise<{ keyId: string; groupPublicKey: string; refreshId: string }> {
  const user = o.users.get(userId);
  if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user on this co-signer', { details: { userId } });
  if (user.status !== 'active') throw new CosignerError('ERR_USER_PENDING', 'the owner has not approved this user\'s key share yet', { details: { userId } });
  const key = user.keyShares.find((k) => k.keyId === keyId);
  if (!key) throw new CosignerError('ERR_NOT_FOUND', 'no such key for this user', { details: { keyId } });
  if (key.scheme !== 'dkls23-secp256k1') throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'only threshold ECDSA keys are refreshed', { details: { keyId, scheme: key.scheme } });
  const refreshId = randomUUID();
  let result: unknown;
  try {
    result = await relayRun(o.host, `refresh:${refreshId}`, { kind: 'refresh', params: { key, now: o.now } }, key.identifier, key.participants, async (round, messages) =>
      parseEcdsaReply(await o.coordinator.request('ecdsa.refresh', { refreshId, userId, keyId, verifyingShares: key.verifyingShares, round, messages }, { timeoutMs: ROUND_TIMEOUT_MS }), 'ecdsa.refresh'));
  } catch (err) {
    // A peer cheating during the refresh marks the key as a signing session would (sealed first).
    const e = toCosignerError(err);
    if (e.code === 'ERR_PEER_CHEATED') await o.users.markRefreshRequired(userId, keyId, cheatMark(e, Date.now()));
    throw e;
  }
  // The chain code is the key's (derivation must not change with a refresh): the sealed one stays.
  const checked = checkRecord({ ...(result as KeyShareRecord), chainCode: key.chainCode as string }, { threshold: key.threshold, participants: key.participants, identifier: key.identifier, keyId, groupPublicKey: key.groupPublicKey });
  // New shares, new pairwise OT state: the mark (if any) is about the old ones.
  const { refreshRequired: _cleared, ...extras } = checked.ecdsa ?? { pairwise: {} };
  const record: KeyShareRecord = { ...checked, createdAt: key.createdAt, ecdsa: extras };
  await o.users.replaceKey(userId, record);
  o.log?.('info', { userId, keyId, refreshId, audit: true }, 'threshold ECDSA key refreshed and sealed');
  const commit = { refreshId, userId, keyId, groupPublicKey: record.groupPublicKey, verifyingShares: record.verifyingShares };
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await o.coordinator.request('ecdsa.refresh.commit', commit, { timeoutMs: 10_000 });
      return { keyId, groupPublicKey: record.groupPublicKey, refreshId };
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
  throw new CosignerError('ERR_WRITE_UNACKNOWLEDGED', 'the refreshed share is sealed but the coordinator did not confirm the refresh; run refresh-key again', {
    details: { keyId, refreshId, cause: toCosignerError(last).code },
  });
}
