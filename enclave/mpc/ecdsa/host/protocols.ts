// Runs in the enclave (its ECDSA worker threads) and in the reference coordinator. The one place
// the integration (host, sessions, pairing, refresh) reaches the DKLs23 protocol code of
// enclave/mpc/ecdsa/: key generation, 3-round signing and key refresh as round-based parties
// (party.ts), each given the OT layer (ot/index.ts). A record that is not a threshold ECDSA share
// is refused with ERR_UNSUPPORTED_SCHEME before any protocol code sees it.
import { CosignerError } from '../../../../proto/errors.ts';
import type { KeyShareRecord } from '../../../vault/records.ts';
import { createEcdsaDkg, type EcdsaKeyShare } from '../keygen.ts';
import { createEcdsaRefresh } from '../refresh.ts';
import { createEcdsaSigning } from '../signing.ts';
import { otLayer } from '../ot/index.ts';
import type { KeyShareLike } from '../../key-package.ts';
import type { Rng } from '../ot-api.ts';
import type { RoundParty } from '../party.ts';

/** What the integration reads of a finished ECDSA signature (plain data: crosses worker threads). */
export interface EcdsaSignatureLike {
  /** r ‖ s, 64 bytes, low-S. */
  readonly compact: Uint8Array;
  readonly der: Uint8Array;
  /** Recovery id (0 or 1) of `compact` for the signed digest. */
  readonly recovery: number;
}

export interface EcdsaDkgParams {
  readonly threshold: number;
  readonly participants: readonly number[];
  readonly identifier: number;
  readonly now: number;
  readonly rng?: Rng;
}

export interface EcdsaSigningParams {
  readonly sessionId: string;
  /** The derived key record (enclave/mpc/derivation.ts) that signs. */
  readonly key: KeyShareLike;
  /** The 32-byte digest signed. */
  readonly digest: Uint8Array;
  readonly signers: readonly number[];
  readonly rng?: Rng;
}

export interface EcdsaRefreshParams {
  readonly key: KeyShareRecord;
  readonly now: number;
  readonly rng?: Rng;
}

/** The three DKLs23 protocols as round-based parties. */
export interface EcdsaProtocols {
  dkg(p: EcdsaDkgParams): RoundParty<KeyShareRecord>;
  signing(p: EcdsaSigningParams): RoundParty<EcdsaSignatureLike>;
  refresh(p: EcdsaRefreshParams): RoundParty<KeyShareRecord>;
}

/** The record as the protocol types it; anything else is refused. */
function ecdsaShare(key: KeyShareLike | KeyShareRecord): EcdsaKeyShare {
  if (key.scheme !== 'dkls23-secp256k1' || !key.ecdsa) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'not a threshold ECDSA key share', { details: { keyId: String(key.keyId).slice(0, 200) } });
  return key as EcdsaKeyShare;
}

/** The protocols of this build, over its OT layer. */
export const ecdsaProtocols: EcdsaProtocols = {
  dkg: (p) => createEcdsaDkg({ ...p, ot: otLayer }),
  signing: (p) => createEcdsaSigning({ ...p, key: ecdsaShare(p.key), ot: otLayer }),
  refresh: (p) => createEcdsaRefresh({ ...p, key: ecdsaShare(p.key), ot: otLayer }),
};
