// Runs in the enclave. Before a Callback Handler is asked (or, with no handler, before the enclave
// signs on its own), each rawTx entry's payload is recomputed here from the raw transaction: the
// coordinator cannot get a signature over bytes that are not the transaction it described.
import { timingSafeEqual } from 'node:crypto';
import { CosignerError } from '../../../proto/errors.ts';
import type { ThresholdScheme } from '../../vault/records.ts';
// One list of formats: the coordinator protocol's (proto/ may not import enclave/, so it lives there).
import type { SignFormat } from '../../../proto/coordinator/messages.ts';
import { checkBitcoinPsbt } from './bitcoin-psbt.ts';
import { checkSolana } from './solana.ts';

/**
 * How `rawTx` is to be read. `raw`: the bytes are the message itself (operation RAW and messages
 * the enclave cannot parse); `payload` must equal them. `bitcoin-psbt`: an unsigned PSBT; `payload`
 * is the BIP-341 key-path sighash of an input the key spends. `solana`: a wire transaction;
 * `payload` is its message, which the key must be required to sign.
 */
export type RawTxFormat = SignFormat;


export interface RawTxToCheck {
  readonly format: RawTxFormat;
  readonly rawTx: Uint8Array;
  /** What will be signed. */
  readonly payload: Uint8Array;
  readonly scheme: ThresholdScheme;
  /** The derived key that will sign, as a standard verifier takes it (deriveKeyShare().signingPublicKey). */
  readonly signingPublicKey: Uint8Array;
}

/**
 * Throws ERR_PAYLOAD_MISMATCH when `payload` is not what `rawTx` says must be signed by this key,
 * ERR_TX_FORMAT when `rawTx` cannot be read as `format`.
 */
export function checkRawTx(entry: RawTxToCheck): void {
  switch (entry.format) {
    case 'raw':
      if (entry.rawTx.length !== entry.payload.length || !timingSafeEqual(entry.rawTx, entry.payload)) {
        throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'a raw message entry must sign exactly its rawTx bytes');
      }
      return;
    case 'bitcoin-psbt':
      // A Taproot key-path signature is BIP-340: only that scheme's (already tweaked) output key fits.
      if (entry.scheme !== 'frost-secp256k1-tr') throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'bitcoin-psbt entries are signed by frost-secp256k1-tr keys only');
      checkBitcoinPsbt(entry.rawTx, entry.payload, entry.signingPublicKey);
      return;
    case 'solana':
      if (entry.scheme !== 'frost-ed25519') throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'solana entries are signed by frost-ed25519 keys only');
      checkSolana(entry.rawTx, entry.payload, entry.signingPublicKey);
      return;
    default:
      throw new CosignerError('ERR_TX_FORMAT', 'unsupported raw transaction format', { details: { format: String(entry.format).slice(0, 32) } });
  }
}
