// Runs in the enclave. `bitcoin-psbt` entries: rawTx is an unsigned PSBT (BIP-174) and payload must
// be the signature hash of one of its inputs that the entry's derived key spends: the BIP-341
// key-path sighash for a Taproot output key (FROST, BIP-340), or the BIP-143 SegWit v0 sighash
// (SIGHASH_ALL) of a P2WPKH input of hash160(compressed key) for a threshold ECDSA key. The PSBT is
// parsed and the sighash computed by @scure/btc-signer; nothing here serialises or hashes by hand.
// Amounts and scripts come from the PSBT's witnessUtxo fields: BIP-341 commits to every input's,
// BIP-143 to the signed input's amount, so a coordinator that lies about them gets a signature that
// no node accepts (and a handler that reads the PSBT sees what is really paid).
import { timingSafeEqual } from 'node:crypto';
import { OutScript, SigHash, Transaction } from '@scure/btc-signer';
import { hash160 } from '@scure/btc-signer/utils.js';
import { CosignerError } from '../../../proto/errors.ts';

/** Largest PSBT read (bytes); the handler-facing request bounds rawTx hex at 32 KiB anyway. */
export const MAX_PSBT_BYTES = 16 * 1024;
/** Most inputs / outputs read: one rawTx entry per input, and a request holds at most 64 of them. */
export const MAX_PSBT_INPUTS = 64;
export const MAX_PSBT_OUTPUTS = 256;
/** 21 million BTC in satoshis: no amount above it exists. */
const MAX_SATS = 2_100_000_000_000_000n;

const formatError = (why: string): CosignerError => new CosignerError('ERR_TX_FORMAT', `bitcoin-psbt: ${why}`);

function parse(rawTx: Uint8Array): Transaction {
  if (rawTx.length === 0 || rawTx.length > MAX_PSBT_BYTES) throw formatError(`a PSBT must hold 1..${MAX_PSBT_BYTES} bytes`);
  try {
    // Defaults are strict: unknown output scripts, unknown versions and malformed keys are refused.
    return Transaction.fromPSBT(rawTx);
  } catch {
    throw formatError('not a readable PSBT');
  }
}

/**
 * The prevout scripts and amounts of every input; throws ERR_TX_FORMAT. `sighash` is the one type
 * every input may ask for (the payload is always taken with it).
 */
function prevouts(tx: Transaction, sighash: number): { scripts: Uint8Array[]; amounts: bigint[] } {
  if (tx.inputsLength === 0 || tx.inputsLength > MAX_PSBT_INPUTS) throw formatError(`a PSBT must have 1..${MAX_PSBT_INPUTS} inputs`);
  if (tx.outputsLength === 0 || tx.outputsLength > MAX_PSBT_OUTPUTS) throw formatError(`a PSBT must have 1..${MAX_PSBT_OUTPUTS} outputs`);
  const scripts: Uint8Array[] = [];
  const amounts: bigint[] = [];
  let total = 0n;
  for (let i = 0; i < tx.inputsLength; i++) {
    const input = tx.getInput(i);
    // Without witnessUtxo the amount and script the sighash commits to would be taken on trust.
    if (!input.witnessUtxo) throw formatError(`input ${i} has no witnessUtxo`);
    if (input.finalScriptWitness || input.finalScriptSig) throw formatError(`input ${i} is already finalized`);
    const { script, amount } = input.witnessUtxo;
    if (amount < 0n || amount > MAX_SATS) throw formatError(`input ${i} has an impossible amount`);
    // The payload is always the SIGHASH_DEFAULT (Taproot) / SIGHASH_ALL (SegWit v0) hash: a PSBT that
    // asks for another type (which would let others change parts of the transaction after we sign)
    // is refused, for every input.
    if (input.sighashType !== undefined && input.sighashType !== sighash) throw formatError(`input ${i} requests sighash type ${input.sighashType}`);
    scripts.push(script);
    amounts.push(amount);
    total += amount;
  }
  let out = 0n;
  for (let i = 0; i < tx.outputsLength; i++) out += tx.getOutput(i).amount ?? 0n;
  if (out > total) throw formatError('outputs spend more than the inputs hold');
  return { scripts, amounts };
}

/**
 * Throws unless `payload` is the BIP-341 key-path sighash (SIGHASH_DEFAULT, no annex) of an input of
 * the PSBT `rawTx` whose prevout is P2TR of `outputKey` (32-byte x-only Taproot output key).
 */
export function checkBitcoinPsbt(rawTx: Uint8Array, payload: Uint8Array, outputKey: Uint8Array): void {
  if (outputKey.length !== 32) throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'bitcoin-psbt needs a 32-byte x-only Taproot output key');
  const tx = parse(rawTx);
  const { scripts, amounts } = prevouts(tx, SigHash.DEFAULT);
  const ours = OutScript.encode({ type: 'tr', pubkey: outputKey });
  matchInputSighash(scripts, ours, payload, (i) => tx.preimageWitnessV1(i, scripts, SigHash.DEFAULT, amounts), 'key-path');
}

/**
 * Throws unless `payload` is the BIP-143 signature hash (SIGHASH_ALL) of an input of the PSBT
 * `rawTx` whose prevout is P2WPKH of hash160(`publicKey`) (33-byte compressed ECDSA key). BIP-143's
 * script code for P2WPKH is the P2PKH script of the key hash; the amount is the input's witnessUtxo.
 */
export function checkBitcoinPsbtSegwitV0(rawTx: Uint8Array, payload: Uint8Array, publicKey: Uint8Array): void {
  if (publicKey.length !== 33 || (publicKey[0] !== 2 && publicKey[0] !== 3)) {
    throw new CosignerError('ERR_PAYLOAD_MISMATCH', 'a SegWit v0 input needs a 33-byte compressed ECDSA key');
  }
  const tx = parse(rawTx);
  const { scripts, amounts } = prevouts(tx, SigHash.ALL);
  const keyHash = hash160(publicKey);
  const ours = OutScript.encode({ type: 'wpkh', hash: keyHash });
  const scriptCode = OutScript.encode({ type: 'pkh', hash: keyHash });
  matchInputSighash(scripts, ours, payload, (i) => tx.preimageWitnessV0(i, scriptCode, SigHash.ALL, amounts[i] as bigint), 'SegWit v0');
}

/**
 * Returns if `payload` is the signature hash (`sighashOf`) of an input whose prevout script is
 * `ours`; otherwise ERR_PAYLOAD_MISMATCH saying whether the key spends any input at all. Every
 * matching input is tried (a key may spend several).
 */
function matchInputSighash(scripts: readonly Uint8Array[], ours: Uint8Array, payload: Uint8Array, sighashOf: (input: number) => Uint8Array, kind: string): void {
  let spendsOurKey = false;
  for (let i = 0; i < scripts.length; i++) {
    const script = scripts[i] as Uint8Array;
    if (script.length !== ours.length || !timingSafeEqual(script, ours)) continue;
    spendsOurKey = true;
    let sighash: Uint8Array;
    try {
      sighash = sighashOf(i);
    } catch {
      throw formatError(`cannot compute the signature hash of input ${i}`);
    }
    if (payload.length === sighash.length && timingSafeEqual(payload, sighash)) return;
  }
  throw new CosignerError('ERR_PAYLOAD_MISMATCH', spendsOurKey
    ? `payload is not the ${kind} signature hash of an input this key spends`
    : 'no input of this PSBT is spent by the signing key');
}
