// Runs in the enclave. `add-user`: verify the pairing token against the coordinator key fixed at
// setup, register the API user with the coordinator, run one DKG per scheme over the authenticated
// coordinator connection, and return the new user record, status 'pending', for the caller to seal.
// The shares become usable only once the coordinator reports the owner's approval (user.activate).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { DkgSession } from '../mpc/dkg.ts';
import { checkParticipants } from '../mpc/key-package.ts';
import { DEFAULT_SCHEMES, isThresholdScheme } from '../mpc/suites.ts';
import type { ApiUserRecord, CallbackSettings, KeyShareRecord, ThresholdScheme } from '../vault/records.ts';
import { spkiB64 } from '../../proto/coordinator/envelope.ts';
import { parseDkgRound1List, parseDkgRound2List, parsePairRegisterResult, type DkgFinishBody } from '../../proto/coordinator/messages.ts';
import { verifyPairingToken } from '../../proto/coordinator/pairing-token.ts';
import { parsePairChallenge } from '../../proto/coordinator/pair-challenge.ts';
import { checkThresholdPolicy, pairingSummary } from './pairing-summary.ts';
import type { EcdsaHost } from '../mpc/ecdsa/host/host.ts';
import { runEcdsaDkg } from './ecdsa-keys.ts';

/** How pairing talks to the coordinator: one authenticated request at a time. */
export interface CoordinatorRequester {
  request(type: string, body: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
}

export interface PairOptions {
  readonly token: string;
  readonly coordinatorKey: KeyObject;
  readonly now: number;
  /** Whether a token nonce was already accepted (sealed users and pairings in flight). */
  readonly isUsed: (nonce: string) => boolean;
  readonly coordinator: CoordinatorRequester;
  readonly callback?: CallbackSettings | undefined;
  readonly schemes?: readonly ThresholdScheme[];
  readonly signal?: AbortSignal;
  /** This co-signer's id (named in the pairing summary the owner approves). */
  readonly cosignerId: string;
  /** An attestation document with this nonce and the co-signer's identity as user_data. */
  readonly attest: (nonce: Uint8Array) => Promise<Uint8Array>;
  /** Where threshold ECDSA (dkls23-secp256k1) parties run; without it that scheme is refused. */
  readonly ecdsaHost?: EcdsaHost;
}

/** Verifies the token only (no network): what `pair` does first. */
export { verifyPairingToken };

/**
 * Pairs a new API user. Throws ERR_PAIRING_TOKEN_INVALID / _EXPIRED / _REUSED before any network
 * traffic; ERR_BAD_SHARE naming a participant if the coordinator's DKG packages are bad.
 */
export async function pair(o: PairOptions): Promise<ApiUserRecord> {
  const claims = verifyPairingToken(o.token, { coordinatorKey: o.coordinatorKey, now: o.now, isUsed: o.isUsed });
  // The default is what this co-signer can make: threshold ECDSA only where its parties can run.
  const defaults = o.ecdsaHost ? DEFAULT_SCHEMES : DEFAULT_SCHEMES.filter((s) => s !== 'dkls23-secp256k1');
  const schemes = [...new Set(o.schemes ?? defaults)];
  if (schemes.length === 0 || !schemes.every(isThresholdScheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'unsupported threshold scheme requested');
  if (schemes.includes('dkls23-secp256k1') && !o.ecdsaHost) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'threshold ECDSA is not available on this co-signer');
  const approval = generateKeyPairSync('ed25519');
  // The coordinator binds the pairing to an enclave it attested just now, not to whoever holds the token.
  const nonce = parsePairChallenge(await o.coordinator.request('pair.challenge', {}));
  const attestation = Buffer.from(await o.attest(Buffer.from(nonce, 'hex'))).toString('base64');
  const reg = parsePairRegisterResult(await o.coordinator.request('pair.register', { token: o.token, approvalPublicKey: spkiB64(approval.publicKey), schemes, attestation }));
  if (reg.userId !== claims.userId || reg.workspace !== claims.workspace) {
    throw new CosignerError('ERR_COORDINATOR_AUTH', 'coordinator registered a different user than the token names');
  }
  checkParticipants(reg.threshold, reg.participants, reg.identifier);
  try {
    // Before any DKG: a key the other parties could use without us is never created.
    checkThresholdPolicy(reg.threshold, reg.participants, reg.identifier);
  } catch (err) {
    await o.coordinator.request('pair.abort', { pairingId: reg.pairingId }, { timeoutMs: 5_000 }).catch(() => undefined);
    throw err;
  }
  const keyShares: KeyShareRecord[] = [];
  try {
    for (const scheme of schemes) {
      o.signal?.throwIfAborted();
      const share = scheme === 'dkls23-secp256k1'
        ? await runEcdsaDkg({ coordinator: o.coordinator, host: o.ecdsaHost as EcdsaHost, now: o.now, ...(o.signal ? { signal: o.signal } : {}) }, reg.pairingId, reg.threshold, reg.participants, reg.identifier)
        : await runDkg(o, reg.pairingId, scheme, reg.threshold, reg.participants, reg.identifier);
      // And on what the DKG produced: the share's own t-of-n is what signing will use.
      checkThresholdPolicy(share.threshold, share.participants, share.identifier);
      keyShares.push(share);
    }
  } catch (err) {
    await o.coordinator.request('pair.abort', { pairingId: reg.pairingId }, { timeoutMs: 5_000 }).catch(() => undefined);
    throw err;
  }
  const user: ApiUserRecord = {
    id: claims.userId,
    workspace: claims.workspace,
    createdAt: o.now,
    status: 'pending',
    ...(o.callback ? { callback: o.callback } : {}),
    approvalKeyPkcs8: approval.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'),
    keyShares,
    pairingNonce: claims.nonce,
    pairingId: reg.pairingId,
  };
  // What the owner approves (user.activate): shown at the coordinator, recomputed here on activation.
  await o.coordinator.request('pair.summary', { summary: pairingSummary(user, o.cosignerId) });
  return user;
}

async function runDkg(o: PairOptions, pairingId: string, scheme: ThresholdScheme, threshold: number, participants: readonly number[], identifier: number): Promise<KeyShareRecord> {
  const dkg = new DkgSession({ scheme, threshold, participants, identifier, now: o.now });
  try {
    const own1 = dkg.round1();
    const others1 = parseDkgRound1List(await o.coordinator.request('dkg.round1', { pairingId, scheme, package: own1 }));
    const own2 = dkg.round2(others1);
    const mine2 = parseDkgRound2List(await o.coordinator.request('dkg.round2', { pairingId, scheme, packages: own2 }));
    const record = dkg.round3(mine2);
    // A new DKG always yields a chain code (DkgSession); the coordinator's parties must agree on it.
    if (record.chainCode === undefined) throw new CosignerError('ERR_SESSION_ABORTED', 'DKG produced no chain code');
    const finish: DkgFinishBody = { pairingId, scheme, keyId: record.keyId, groupPublicKey: record.groupPublicKey, verifyingShares: record.verifyingShares, chainCode: record.chainCode };
    await o.coordinator.request('dkg.finish', finish);
    return record;
  } finally {
    dkg.abort();
  }
}
