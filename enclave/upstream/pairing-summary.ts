// Runs in the enclave. What the workspace owner approves when a new API user is paired: the user,
// this co-signer, each key (its group public key and t-of-n) and the Callback Handler that will
// approve its signatures. The enclave sends it to the coordinator at the end of pairing to show the
// owner; on user.activate it recomputes it from its own sealed pending record, so an approval of
// anything else (another handler URL, another key) does not verify.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import type { ApiUserRecord, CallbackSettings } from '../vault/records.ts';

/** The pairing summary (its canonicalDigest is the owner statement's digest). */
export interface PairingSummary {
  readonly userId: string;
  readonly workspace: string;
  readonly cosignerId: string;
  /** `chainCode` only for keys that have one (the owner approves the derivation root too). */
  readonly keys: readonly { keyId: string; scheme: string; groupPublicKey: string; chainCode?: string; threshold: number; participants: readonly number[] }[];
  readonly callback: {
    url: string;
    authMode: string;
    handlerKeyFingerprint: string | null;
    certificateFingerprint: string | null;
    rootCaFingerprint: string | null;
  } | null;
}

function sha256(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

function spkiFingerprint(pem: string | undefined): string | null {
  return pem ? sha256(createPublicKey(pem).export({ format: 'der', type: 'spki' })) : null;
}

function certFingerprint(pem: string | undefined): string | null {
  return pem ? sha256(new X509Certificate(pem).raw) : null;
}

function callbackSummary(c: CallbackSettings | undefined): PairingSummary['callback'] {
  if (!c) return null;
  try {
    return {
      url: c.url,
      authMode: c.authMode,
      handlerKeyFingerprint: spkiFingerprint(c.handlerPublicKeyPem),
      certificateFingerprint: certFingerprint(c.certificatePem),
      rootCaFingerprint: certFingerprint(c.rootCaPem),
    };
  } catch (err) {
    throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'sealed callback settings do not parse', { cause: err });
  }
}

/** The summary of a (pending) user record of co-signer `cosignerId`. */
export function pairingSummary(user: ApiUserRecord, cosignerId: string): PairingSummary {
  return {
    userId: user.id,
    workspace: user.workspace,
    cosignerId,
    keys: user.keyShares.map((k) => ({
      keyId: k.keyId,
      scheme: k.scheme,
      groupPublicKey: k.groupPublicKey,
      // Omitted, not null, for keys without one: a pending user sealed before chain codes existed
      // recomputes the very summary its owner was shown.
      ...(k.chainCode !== undefined ? { chainCode: k.chainCode } : {}),
      threshold: k.threshold,
      participants: [...k.participants],
    })),
    callback: callbackSummary(user.callback),
  };
}

/**
 * The threshold rule: every signing set must include this co-signer, i.e. no t parties among the
 * other n − 1 exist. Otherwise the coordinator (holding the other shares) could sign without this
 * co-signer and its Callback Handler. Throws ERR_THRESHOLD_POLICY.
 */
export function checkThresholdPolicy(threshold: number, participants: readonly number[], own: number): void {
  if (!participants.includes(own) || !(threshold > participants.length - 1)) {
    throw new CosignerError('ERR_THRESHOLD_POLICY', `a ${threshold}-of-${participants.length} key could be used without this co-signer; only n-of-n keys are accepted`, {
      details: { threshold, participants: participants.length },
    });
  }
}
