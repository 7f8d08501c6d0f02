// Runs in the enclave. Before a Callback Handler is asked (or, with no handler, before the enclave
// signs on its own), each rawTx entry's payload is recomputed here from the raw transaction: the
// coordinator cannot get a signature over bytes that are not the transaction it described.
import { timingSafeEqual } from 'node:crypto';
import { CosignerError } from '../../../proto/errors.ts';
import type { ThresholdScheme } from '../../vault/records.ts';
// One list of formats: the coordinator protocol's (proto/ may not import enclave/, so it lives there).
import type { SignFormat } from '../../../proto/coordinator/messages.ts';
import { checkBitcoinPsbt, checkBitcoinPsbtSegwitV0 } from './bitcoin-psbt.ts';
import { checkEthereum } from './ethereum.ts';
import { checkSolana } from './solana.ts';

/** An ECDSA signature is over a 32-byte digest: a raw entry for a dkls23 key is that digest. */
const ECDSA_DIGEST_BYTES = 32;

/**
 * How `rawTx` is to be read. `raw`: the bytes are the message itself (operation RAW and messages
 * the enclave cannot parse); `payload` must equal them (exactly 32 bytes, the digest, for ECDSA
 * keys). `bitcoin-psbt`: an unsigned PSBT; `payload` is the BIP-341 key-path sighash (Taproot, FROST
 * keys) or the BIP-143 sighash (P2WPKH, ECDSA keys) of an input the key spends. `solana`: a wire
 * transaction; `payload` is its message, which the key must be required to sign. `ethereum`: an
 * unsigned EIP-1559 transaction; `payload` is its signing hash (ECDSA keys only).
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
      // ECDSA signs a digest, never a message: anything but 32 bytes is not one.
      if (entry.scheme === 'dkls23-secp256k1' && entry.payload.length !== ECDSA_DIGEST_BYTES) {
        throw new CosignerError('ERR_PAYLOAD_MISMATCH', `a raw entry for an ECDSA key must be a ${ECDSA_DIGEST_BYTES}-byte digest`);
      }
      return;
    case 'bitcoin-psbt':
      // A Taproot key-path signature is BIP-340: only that scheme's (already tweaked) output key fits;
      // an ECDSA key spends P2WPKH (SegWit v0) inputs of its compressed key.
      if (entry.scheme === 'frost-secp256k1-tr') checkBitcoinPsbt(entry.rawTx, entry.payload, entry.signingPublicKey);
      else if (entry.scheme === 'dkls23-secp256k1') checkBitcoinPsbtSegwitV0(entry.rawTx, entry.payload, entry.signingPublicKey);
      else throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'bitcoin-psbt entries are signed by frost-secp256k1-tr or dkls23-secp256k1 keys only');
      return;
    case 'ethereum':
      if (entry.scheme !== 'dkls23-secp256k1') throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'ethereum entries are signed by dkls23-secp256k1 keys only');
      checkEthereum(entry.rawTx, entry.payload);
      return;
    case 'solana':
      if (entry.scheme !== 'frost-ed25519') throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'solana entries are signed by frost-ed25519 keys only');
      checkSolana(entry.rawTx, entry.payload, entry.signingPublicKey);
      return;
    default:
      throw new CosignerError('ERR_TX_FORMAT', 'unsupported raw transaction format', { details: { format: String(entry.format).slice(0, 32) } });
  }
}
