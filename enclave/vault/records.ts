import type { ThresholdScheme } from '../../proto/coordinator/mpc-wire.ts';
export type { ThresholdScheme };
import type { CallbackAuthMode } from '../../proto/callback-auth-modes.ts';
// Runs in the enclave. The plaintext shape of the secrets DB, shared by the vault (which seals it),
// the approval module (callback settings) and the mpc module (key shares). Never leaves the enclave
// unsealed; never logged.

// The modes: proto/callback-auth-modes.ts (one list for both sides). In short: public-key = JWS both
// ways + CA validation; certificate = plain JSON + SPKI pin; root-ca = plain JSON + chain to the
// configured root; the public-key+… hybrids are JWS with that TLS check.
export type { CallbackAuthMode };

export interface CallbackSettings {
  readonly url: string;
  readonly authMode: CallbackAuthMode;
  /** PEM public key of the handler (JWT modes): verifies its responses. */
  readonly handlerPublicKeyPem?: string;
  /** PEM certificate of the handler (pinning modes): its SPKI is pinned. */
  readonly certificatePem?: string;
  /** PEM root CA (root-CA modes). */
  readonly rootCaPem?: string;
  /** RETRY interval for this handler, ms (30 s – 1 h; default 3 min). enclave/approval/settings.ts. */
  readonly retryIntervalMs?: number;
  /** Longest total RETRY time for this handler, ms (≤ 48 h; default 60 min). */
  readonly retryTotalMs?: number;
}


/** One key share this co-signer holds. `secretShare` is secret. */
export interface KeyShareRecord {
  readonly keyId: string;
  readonly scheme: ThresholdScheme;
  readonly threshold: number;
  readonly participants: readonly number[];
  readonly identifier: number;
  readonly secretShare: string; // hex
  readonly groupPublicKey: string; // hex
  readonly verifyingShares: Readonly<Record<string, string>>; // identifier -> hex
  readonly createdAt: number;
  /**
   * 32-byte hex chain code agreed during DKG (commit–reveal): enables non-hardened derivation of
   * this share (enclave/mpc/derivation.ts). Absent on keys made before derivation existed: those
   * sign with the root key only. For frost-secp256k1-tr keys with a chain code, `groupPublicKey` is
   * the untweaked (even-y) internal key; derived keys are tweaked per path as BIP-86 does.
   */
  readonly chainCode?: string;
  /** dkls23-secp256k1 only: what threshold ECDSA needs beyond the Shamir share (enclave/mpc/ecdsa/). */
  readonly ecdsa?: EcdsaShareExtras;
}

/** The threshold ECDSA (DKLs23) part of a key share record. Secret. */
export interface EcdsaShareExtras {
  /** Per peer identifier: the sealed pairwise OT state (base64), from enclave/mpc/ecdsa/ot/. Secret. */
  readonly pairwise: Readonly<Record<string, string>>;
  /**
   * Set when a peer failed a protocol check while using this key: the key signs again only after
   * a refresh (new shares and new pairwise OT state). Sealed, so a restart does not clear it.
   */
  readonly refreshRequired?: { readonly at: number; readonly peer: number; readonly check: string };
}

export interface ApiUserRecord {
  readonly id: string;
  readonly workspace: string;
  readonly createdAt: number;
  /** pending until the coordinator reports the owner's approval of the new key share. */
  readonly status: 'pending' | 'active';
  readonly callback?: CallbackSettings;
  /** PKCS#8 DER, hex, of the key that signs this user's approvals for the coordinator. Secret. */
  readonly approvalKeyPkcs8: string;
  readonly keyShares: readonly KeyShareRecord[];
  /** Nonce of the pairing token that created this user: a token is accepted once (enclave/upstream/pairing.ts). */
  readonly pairingNonce?: string;
  /** The coordinator's pairing id: `add-user` re-sends pair.commit with it until the coordinator confirms. */
  readonly pairingId?: string;
}

export interface CosignerIdentity {
  readonly cosignerId: string;
  /** PKCS#8 DER, hex, RSA-2048: signs Callback Handler requests (RS256). Secret. */
  readonly callbackSigningKeyPkcs8: string;
  /** PKCS#8 DER, hex, Ed25519: authenticates this co-signer to the coordinator. Secret. */
  readonly coordinatorAuthKeyPkcs8: string;
}

export interface SecretsState {
  readonly formatVersion: 1;
  readonly identity: CosignerIdentity;
  /** The coordinator's public key fixed at setup (verifies pairing tokens and its messages). */
  readonly coordinator: { readonly url: string; readonly publicKeyPem: string };
  readonly kms: { readonly keyArn: string; readonly region: string };
  /**
   * The workspace owner's Ed25519 key, fixed at setup: the only key whose signature authorises an
   * owner-gated change (proto/coordinator/owner-approval.ts). Absent in a DB sealed before owner
   * keys existed; such a co-signer refuses every owner-gated change (fail closed).
   */
  readonly owner?: { readonly publicKeyPem: string };
  readonly users: readonly ApiUserRecord[];
}

const CHAIN_CODE_HEX = /^[0-9a-f]{64}$/;

/**
 * Whether any key share of a just-unsealed state has a chain code that is present but not 64
 * lowercase hex. Absent is valid (keys made before derivation: root key only); malformed is a
 * corrupt DB, refused on load rather than when a signing request first derives from it.
 */
export function hasMalformedChainCode(state: { readonly users?: unknown }): boolean {
  if (!Array.isArray(state.users)) return false;
  for (const u of state.users as { keyShares?: unknown }[]) {
    if (!Array.isArray(u?.keyShares)) continue;
    for (const k of u.keyShares as { chainCode?: unknown }[]) {
      if (k && typeof k === 'object' && 'chainCode' in k && (typeof k.chainCode !== 'string' || !CHAIN_CODE_HEX.test(k.chainCode))) return true;
    }
  }
  return false;
}
