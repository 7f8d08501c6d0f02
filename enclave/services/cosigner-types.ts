// Runs in the enclave. The Cosigner's public shapes (states, status, user and key views, setup
// input, dependencies) and the user projection, kept apart from the state machine in cosigner.ts.
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Attestor } from '../../proto/attestation/types.ts';
import type { Clock } from '../../proto/ports.ts';
import type { ApiUserRecord } from '../vault/records.ts';
import type { Backends, UpstreamState } from './backends.ts';
import type * as v from './validate.ts';

/** Lifecycle states, as `cosigner status` prints them. */
export type CosignerState = 'starting' | 'not-set-up' | 'setting-up' | 'sealed' | 'unsealing' | 'unsealed' | 'access-denied';

export interface StatusInfo {
  readonly state: CosignerState;
  readonly attestationMode: 'nsm' | 'dev';
  readonly buildId: string;
  readonly cosignerId: string;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly users: number;
  readonly pendingUsers: number;
  readonly coordinator: UpstreamState;
  readonly localMode: boolean;
  readonly openSessions: number;
  readonly startedAt: string;
  readonly secretsGeneration: string;
  /** KMS key policy as the enclave read it: '' (not checked yet) | 'changeable' | 'fixed'. */
  readonly kmsPolicy: '' | 'changeable' | 'fixed';
  /** Principals that may change the key policy or add grants. */
  readonly kmsPolicyEditors: readonly string[];
  readonly notes: readonly string[];
  /** SHA-256 of the sealed owner key's SPKI; '' when none is sealed. */
  readonly ownerKeyFingerprint: string;
  /** While boot unseal waits to retry a transient failure: when it tries next (ISO 8601); else ''. */
  readonly nextUnsealAttemptAt: string;
  /** Boot unseal attempts that failed so far; 0 once unsealed. */
  readonly unsealAttempts: number;
  /** Owner-gated changes waiting for the owner (enclave memory only). */
  readonly pendingChanges: number;
}

export interface KeyInfo {
  readonly keyId: string;
  readonly scheme: string;
  readonly threshold: number;
  readonly participants: readonly number[];
  readonly identifier: number;
  readonly groupPublicKey: string;
  /** dkls23-secp256k1: a peer failed a protocol check; the key signs again only after refresh-key. */
  readonly refreshRequired?: { readonly atMs: number; readonly peer: number; readonly check: string };
}

/** What `list-users` shows: never a secret. */
export interface UserInfo {
  readonly id: string;
  readonly workspace: string;
  readonly status: 'pending' | 'active';
  readonly handlerUrl: string;
  readonly authMode: string;
  readonly keys: readonly KeyInfo[];
  readonly createdAt: string;
  /** SHA-256 hex of the handler public key's SPKI ('' when none): public, for the operator to compare. */
  readonly handlerKeySha256: string;
  /** SHA-256 hex of the pinned certificate's key SPKI ('' when none). */
  readonly certificateKeySha256: string;
}

export interface SetupInput {
  readonly kmsKeyArn?: unknown;
  readonly region?: unknown;
  readonly kmsEndpoint?: unknown;
  readonly coordinatorUrl?: unknown;
  readonly coordinatorPublicKeyPem?: unknown;
  readonly ownerPublicKeyPem?: unknown;
  readonly pairingToken?: unknown;
  readonly callback?: v.CallbackConfigInput | null | undefined;
}

export interface CosignerDeps {
  readonly backends: Backends;
  readonly attestor: Attestor;
  readonly buildId: string;
  /** Local mode: plain-http handlers and a KMS endpoint override are allowed — dev builds only. */
  readonly localMode: boolean;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** Public projection of a user record (no approval key, no share). */
export function userInfo(u: ApiUserRecord): UserInfo {
  return {
    id: u.id,
    workspace: u.workspace,
    status: u.status,
    handlerUrl: u.callback?.url ?? '',
    authMode: u.callback?.authMode ?? 'none',
    keys: u.keyShares.map((k) => ({
      keyId: k.keyId,
      scheme: k.scheme,
      threshold: k.threshold,
      participants: [...k.participants],
      identifier: k.identifier,
      groupPublicKey: k.groupPublicKey,
      ...(k.ecdsa?.refreshRequired ? { refreshRequired: { atMs: k.ecdsa.refreshRequired.at, peer: k.ecdsa.refreshRequired.peer, check: k.ecdsa.refreshRequired.check } } : {}),
    })),
    createdAt: new Date(u.createdAt).toISOString(),
    handlerKeySha256: spkiFingerprint(u.callback?.handlerPublicKeyPem, (pem) => createPublicKey(pem)),
    certificateKeySha256: spkiFingerprint(u.callback?.certificatePem, (pem) => new X509Certificate(pem).publicKey),
  };
}

/** SHA-256 hex of a key's SPKI DER; '' when absent or unparsable (the record was validated when sealed). */
function spkiFingerprint(pem: string | undefined, key: (pem: string) => KeyObject): string {
  if (!pem) return '';
  try {
    return createHash('sha256').update(key(pem).export({ type: 'spki', format: 'der' })).digest('hex');
  } catch {
    return '';
  }
}
