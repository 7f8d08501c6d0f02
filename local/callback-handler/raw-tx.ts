// Sample Callback Handler (tests and `make demo` only): checks that what the co-signer will sign is
// the transaction the request describes, the way docs/callback-handler.md ("Raw transactions by
// format") tells handler authors to: recompute each rawTx entry's `payload` from its `rawTx`, then
// check the transaction's destinations and amounts against `destAddress`/`destinations[]` and
// `amountStr`. Library parsers only (@scure/btc-signer, @solana/kit via local/chains,
// micro-eth-signer for Ethereum).
import { Address, NETWORK, OutScript, SigHash, TEST_NETWORK, Transaction } from '@scure/btc-signer';
import { hex } from '@scure/base';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { addr, Transaction as EthTransaction } from 'micro-eth-signer';
import { readSolanaTransaction } from '../chains/solana.ts';

/** What the request says is paid: address → smallest units. */
type Expected = Map<string, bigint>;

/** A decimal string ("0.0015") in units of 10^-decimals; undefined if it has more digits than that. */
export function toUnits(amount: string, decimals: number): bigint | undefined {
  const m = /^(\d{1,30})(?:\.(\d{1,40}))?$/.exec(amount);
  if (!m) return undefined;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length > decimals) return undefined;
  return BigInt(m[1] as string) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0');
}

/** The payments the request describes: `destinations[]` (displayDstAddress, amountNativeStr), else destAddress + amountStr. */
function expectedPayments(tx: Record<string, unknown>, decimals: number): Expected | string {
  const out: Expected = new Map();
  const add = (address: unknown, amount: unknown): string | undefined => {
    if (typeof address !== 'string' || address === '' || typeof amount !== 'string') return 'the request names no destination address and amount to check';
    const units = toUnits(amount, decimals);
    if (units === undefined) return `amount ${amount} is not a valid amount`;
    out.set(address, (out.get(address) ?? 0n) + units);
    return undefined;
  };
  const dests = Array.isArray(tx.destinations) ? (tx.destinations as Record<string, unknown>[]) : [];
  const withAddress = dests.filter((d) => typeof d.displayDstAddress === 'string' && d.displayDstAddress !== '');
  if (withAddress.length > 0) {
    for (const d of withAddress) {
      const why = add(d.displayDstAddress, d.amountNativeStr);
      if (why) return why;
    }
  } else {
    const why = add(tx.destAddress, tx.amountStr);
    if (why) return why;
  }
  return out;
}

/** Compares what a transaction pays (address → units) with what the request describes. */
function samePayments(paid: Expected, expected: Expected): string | undefined {
  for (const [address, units] of paid) {
    const want = expected.get(address);
    if (want === undefined) return `the transaction pays ${address}, which the request does not name`;
    if (want !== units) return `the transaction pays ${units} to ${address}, the request says ${want}`;
  }
  for (const address of expected.keys()) if (!paid.has(address)) return `the transaction does not pay ${address}`;
  return undefined;
}

/** The output script of a Bitcoin address on mainnet or testnet/signet; undefined if neither reads it. */
function scriptOf(address: string): Uint8Array | undefined {
  for (const net of [NETWORK, TEST_NETWORK]) {
    try {
      return OutScript.encode(Address(net).decode(address));
    } catch {
      // try the next network
    }
  }
  return undefined;
}

/**
 * The signature hash of each input the way its key signs it: BIP-341 key path (SIGHASH_DEFAULT)
 * for P2TR, BIP-143 (SIGHASH_ALL, script code = P2PKH of the key hash) for P2WPKH; '' for an input
 * of another kind or one asking for another sighash type. Throws when an input has no witnessUtxo.
 */
function inputSighashes(psbt: Transaction): string[] {
  const inputs = Array.from({ length: psbt.inputsLength }, (_, i) => psbt.getInput(i));
  const scripts = inputs.map((input, i) => {
    if (!input.witnessUtxo) throw new Error(`input ${i} has no witnessUtxo`);
    return input.witnessUtxo.script;
  });
  const amounts = inputs.map((input) => input.witnessUtxo!.amount);
  return inputs.map((input, i) => {
    const spent = OutScript.decode(scripts[i] as Uint8Array);
    if (spent.type === 'tr' && (input.sighashType ?? SigHash.DEFAULT) === SigHash.DEFAULT) {
      return hex.encode(psbt.preimageWitnessV1(i, scripts, SigHash.DEFAULT, amounts));
    }
    if (spent.type === 'wpkh' && (input.sighashType ?? SigHash.ALL) === SigHash.ALL) {
      return hex.encode(psbt.preimageWitnessV0(i, OutScript.encode({ type: 'pkh', hash: spent.hash }), SigHash.ALL, amounts[i] as bigint));
    }
    return '';
  });
}

function checkBitcoin(entry: { rawTx: string; payload: string }, tx: Record<string, unknown>): string | undefined {
  let psbt: Transaction;
  let hashes: string[];
  try {
    psbt = Transaction.fromPSBT(hex.decode(entry.rawTx));
    hashes = inputSighashes(psbt);
  } catch {
    return 'rawTx is not a PSBT whose inputs all carry witnessUtxo';
  }
  if (!hashes.some((h) => h !== '' && h === entry.payload)) {
    return 'payload is not the Taproot key-path or SegWit v0 signature hash of any input of rawTx';
  }
  const expected = expectedPayments(tx, 8);
  if (typeof expected === 'string') return expected;
  const scripts = new Map<string, string>();
  for (const address of expected.keys()) {
    const s = scriptOf(address);
    if (!s) return `destination ${address} is not a Bitcoin address`;
    scripts.set(hex.encode(s), address);
  }
  const change = new Set(Array.from({ length: psbt.inputsLength }, (_, i) => hex.encode(psbt.getInput(i).witnessUtxo?.script ?? new Uint8Array())));
  const paid: Expected = new Map();
  for (let i = 0; i < psbt.outputsLength; i++) {
    const o = psbt.getOutput(i);
    const script = hex.encode(o.script ?? new Uint8Array());
    const address = scripts.get(script);
    if (address !== undefined) paid.set(address, (paid.get(address) ?? 0n) + (o.amount ?? 0n));
    else if (!change.has(script)) return `output ${i} pays a script that is neither a destination nor change`;
  }
  return samePayments(paid, expected);
}

function checkSolana(entry: { rawTx: string; payload: string }, tx: Record<string, unknown>): string | undefined {
  let read: ReturnType<typeof readSolanaTransaction>;
  try {
    read = readSolanaTransaction(hex.decode(entry.rawTx));
  } catch {
    return 'rawTx is not a readable Solana transaction';
  }
  if (hex.encode(read.messageBytes) !== entry.payload) return 'payload is not the message of rawTx';
  if (read.others > 0) return 'the transaction does more than transfer SOL';
  const expected = expectedPayments(tx, 9);
  if (typeof expected === 'string') return expected;
  const paid: Expected = new Map();
  for (const t of read.transfers) paid.set(t.destination, (paid.get(t.destination) ?? 0n) + t.lamports);
  return samePayments(paid, expected);
}

/** An unsigned EIP-1559 transaction: the payload must be keccak256 of rawTx, paying value to `to` and nothing else. */
function checkEthereum(entry: { rawTx: string; payload: string }, tx: Record<string, unknown>): string | undefined {
  const bytes = hex.decode(entry.rawTx);
  let read: ReturnType<typeof EthTransaction.fromBytes>;
  try {
    read = EthTransaction.fromBytes(bytes);
  } catch {
    return 'rawTx is not a readable Ethereum transaction';
  }
  if (read.type !== 'eip1559' || read.isSigned) return 'rawTx is not an unsigned EIP-1559 transaction';
  // Re-encode and compare: the bytes hashed are the bytes read, nothing a node would read otherwise.
  if (hex.encode(read.toBytes({ includeSignature: false })) !== entry.rawTx) return 'rawTx is not canonically encoded';
  if (hex.encode(keccak_256(bytes)) !== entry.payload) return 'payload is not the EIP-1559 signing hash of rawTx';
  const raw = read.raw as unknown as { to: string; value: bigint; data: string; chainId: bigint };
  if (raw.chainId < 1n) return 'the transaction is valid on every chain (chainId 0)';
  if (raw.data !== '0x' && raw.data !== '') return 'the transaction does more than transfer ETH (it carries call data)';
  if (raw.to === '0x') return 'the transaction creates a contract';
  const described = expectedPayments(tx, 18);
  if (typeof described === 'string') return described;
  // Addresses are compared in their checksummed form: a request may name them in lower case.
  const expected: Expected = new Map();
  for (const [address, units] of described) {
    let checksummed: string;
    try {
      checksummed = addr.addChecksum(address);
    } catch {
      return `destination ${address} is not an Ethereum address`;
    }
    expected.set(checksummed, (expected.get(checksummed) ?? 0n) + units);
  }
  return samePayments(new Map([[addr.addChecksum(raw.to), raw.value]]), expected);
}

/**
 * Checks every rawTx entry of a tx_sign_request; returns a rejection reason, or undefined when all
 * entries are what the request describes. Entries without `format` come from co-signers that do not
 * say how to read rawTx: refused when `requireFormat`, otherwise left to the other rules.
 */
export function checkRawTxEntries(tx: Record<string, unknown>, requireFormat: boolean): string | undefined {
  if (tx.rawTx === undefined) return undefined; // approval stage: nothing is signed yet
  if (!Array.isArray(tx.rawTx)) return 'rawTx is not a list';
  for (const [i, e] of (tx.rawTx as unknown[]).entries()) {
    const entry = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    const rawTx = typeof entry.rawTx === 'string' ? entry.rawTx.toLowerCase() : '';
    const payload = typeof entry.payload === 'string' ? entry.payload.toLowerCase() : '';
    if (!/^(?:[0-9a-f]{2})+$/.test(payload) || !/^(?:[0-9a-f]{2})*$/.test(rawTx)) return `rawTx[${i}] is not hex`;
    let why: string | undefined;
    switch (entry.format) {
      case 'raw':
        why = rawTx === payload ? undefined : 'payload is not the rawTx bytes';
        break;
      case 'bitcoin-psbt':
        why = checkBitcoin({ rawTx, payload }, tx);
        break;
      case 'solana':
        why = checkSolana({ rawTx, payload }, tx);
        break;
      case 'ethereum':
        why = checkEthereum({ rawTx, payload }, tx);
        break;
      case undefined:
        why = requireFormat ? 'the entry does not say how to read rawTx (no format)' : undefined;
        break;
      default:
        why = `format ${String(entry.format).slice(0, 32)} is not one this handler reads`;
    }
    if (why) return `rawTx[${i}]: ${why}`;
  }
  return undefined;
}
