// Runs in the enclave (its ECDSA worker threads) and in the reference coordinator. The one place
// the integration (host, sessions, pairing, refresh) reaches the DKLs23 protocol code of
// enclave/mpc/ecdsa/: key generation, 3-round signing and key refresh as round-based parties
// (party.ts), each given the OT layer (ot/index.ts). Until that code is in this build every entry
// point refuses with ERR_UNSUPPORTED_SCHEME, like the OT layer's placeholder.
import { CosignerError } from '../../../../proto/errors.ts';
import type { KeyShareRecord } from '../../../vault/records.ts';
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

function missing(): never {
  throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'threshold ECDSA is not available in this build');
}

/** The protocols of this build. */
export const ecdsaProtocols: EcdsaProtocols = { dkg: missing, signing: missing, refresh: missing };
