// Reference coordinator (test stand-in, loopback only). Wallets: an asset table, one derived address
// per (user, asset, vault) at the BIP-44 path [44, coin, vault, 0, 0], and transfers built as real
// chain transactions (local/chains) and signed through the ordinary transaction flow. The reference
// coordinator has no chain: a Bitcoin transfer spends a synthetic funding UTXO recorded here for the
// sending address, a Solana transfer uses a synthetic recent blockhash, an Ethereum transfer a
// synthetic nonce. `tamper` makes it play the malicious coordinator the co-signer and the Callback
// Handler must stop (demo and tests). FROST keys pay BTC_TEST (Taproot) and SOL_TEST; the threshold
// ECDSA key (dkls23-secp256k1) pays ETH_TEST (EIP-1559, Sepolia) and BTC_TEST_SEGWIT (P2WPKH).
import { sha256 } from '@noble/hashes/sha2.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Address, TEST_NETWORK } from '@scure/btc-signer';
import { base58, hex } from '@scure/base';
import { isAddress } from '@solana/kit';
import { CosignerError } from '../../proto/errors.ts';
import { derivePublicKey, formatDerivationPath, type DerivationPath } from '../../enclave/mpc/derivation.ts';
import type { ThresholdScheme } from '../../enclave/vault/records.ts';
import { buildSegwitSpend, buildTaprootSpend, finalizeSegwitSpend, finalizeTaprootSpend, satsToBtc, segwitAddress, taprootAddress } from '../chains/bitcoin.ts';
import { buildSolanaTransfer, finalizeSolanaTransfer, lamportsToSol, solanaAddress } from '../chains/solana.ts';
import { buildEthereumTransfer, ethereumAddress, SEPOLIA_CHAIN_ID, weiToEth } from '../chains/ethereum.ts';
import { checkEthereumDestination, finalizeEthereum } from './wallets-ethereum.ts';
import type { CoordinatorState, TransactionEntry, TransactionRecord, UserKey } from './state.ts';
import { createTransaction } from './transactions.ts';

export interface AssetInfo {
  readonly id: string;
  readonly chain: 'bitcoin' | 'solana' | 'ethereum';
  /** How the derived key becomes an address: P2TR output key, P2WPKH key hash, Solana key, Ethereum address. */
  readonly addressType: 'p2tr' | 'p2wpkh' | 'solana' | 'ethereum';
  readonly network: string;
  /** BIP-44 coin type (docs/derivation.md): 1 any testnet, 60 Ethereum, 501 Solana. */
  readonly coinType: number;
  readonly scheme: ThresholdScheme;
  readonly format: 'bitcoin-psbt' | 'solana' | 'ethereum';
  readonly decimals: number;
}

/** The assets the reference coordinator has wallets for. */
export const ASSETS: Readonly<Record<string, AssetInfo>> = Object.freeze({
  BTC_TEST: { id: 'BTC_TEST', chain: 'bitcoin', addressType: 'p2tr', network: 'bitcoin-testnet', coinType: 1, scheme: 'frost-secp256k1-tr', format: 'bitcoin-psbt', decimals: 8 },
  SOL_TEST: { id: 'SOL_TEST', chain: 'solana', addressType: 'solana', network: 'solana-devnet', coinType: 501, scheme: 'frost-ed25519', format: 'solana', decimals: 9 },
  ETH_TEST: { id: 'ETH_TEST', chain: 'ethereum', addressType: 'ethereum', network: 'ethereum-sepolia', coinType: 60, scheme: 'dkls23-secp256k1', format: 'ethereum', decimals: 18 },
  BTC_TEST_SEGWIT: { id: 'BTC_TEST_SEGWIT', chain: 'bitcoin', addressType: 'p2wpkh', network: 'bitcoin-testnet', coinType: 1, scheme: 'dkls23-secp256k1', format: 'bitcoin-psbt', decimals: 8 },
});

/** Highest vault index: a non-hardened path level (docs/derivation.md). */
const MAX_VAULT = 0x7fffffff;
/** Solana's fee per signature, lamports (one signer: the fee payer). */
const SOL_FEE_LAMPORTS = 5_000n;
/** Bitcoin fee rate of the synthetic spends, sat/vB. */
const BTC_FEE_RATE = 2;
/** What a synthetic funding UTXO holds beyond the amount sent (covers the fee, leaves change). */
const BTC_FUNDING_MARGIN = 1_000_000n;

export type Tamper = 'payload' | 'destination';

/** A transfer's transaction record: the signed transaction joins it once every signature verified. */
export type TransferRecord = TransactionRecord & {
  transfer?: { asset: string; vault: number; from: string; to: string; keyDerivationPath: string; tamper?: Tamper };
  /** Signed transaction: hex (Bitcoin), base64 wire transaction (Solana), 0x-hex (Ethereum). */
  signedTx?: string;
  /** The id the chain knows it by: txid (Bitcoin), first signature, base58 (Solana), 0x tx hash (Ethereum). */
  networkTxId?: string;
};

/** Per coordinator and address: funding UTXOs handed out (every synthetic txid is new) and Ethereum nonces used. */
const fundingCounters = new WeakMap<CoordinatorState, Map<string, number>>();
let blockhashCounter = 0;

const bad = (msg: string): CosignerError => new CosignerError('ERR_INVALID_ARGUMENT', msg);

export function assetOf(id: unknown): AssetInfo {
  const a = typeof id === 'string' && Object.hasOwn(ASSETS, id) ? ASSETS[id] : undefined;
  if (!a) throw bad(`unsupported asset; one of ${Object.keys(ASSETS).join(', ')}`);
  return a;
}

/** A vault index from a query string or JSON body: an integer 0..2^31-1. */
export function vaultOf(v: unknown): number {
  const n = typeof v === 'string' && /^[0-9]{1,10}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_VAULT) throw bad('vault must be an integer 0..2147483647');
  return n;
}

/** The address of a derived public key (from derivePublicKey) for `asset`. */
function addressOf(asset: AssetInfo, pub: Uint8Array): string {
  switch (asset.addressType) {
    case 'p2tr':
      return taprootAddress(pub, TEST_NETWORK);
    case 'p2wpkh':
      return segwitAddress(pub, TEST_NETWORK);
    case 'ethereum':
      return ethereumAddress(pub);
    default:
      return solanaAddress(pub);
  }
}

/** The BIP-44 path of vault `vault` for `asset`: [44, coin, vault, 0, 0]. */
export function vaultPath(asset: AssetInfo, vault: number): DerivationPath {
  return [44, asset.coinType, vault, 0, 0];
}

export interface WalletAddress {
  readonly asset: string;
  readonly vault: number;
  readonly keyDerivationPath: string;
  /** The derived key as the chain's verifier takes it, hex (x-only BIP-86 output key; Ed25519 point; compressed ECDSA key). */
  readonly publicKey: string;
  readonly address: string;
}

function userKey(st: CoordinatorState, userId: unknown, asset: AssetInfo): UserKey {
  const user = st.users.get(String(userId));
  if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
  const key = user.keys.find((k) => k.scheme === asset.scheme);
  if (!key) throw new CosignerError('ERR_NOT_FOUND', `user has no ${asset.scheme} key`);
  return key;
}

/**
 * The address of `userId`'s vault `vault` for `asset`, derived from the key's public parts. A key
 * made before derivation (no chain code) has no vault addresses: ERR_DERIVATION_UNSUPPORTED.
 */
export function walletAddress(st: CoordinatorState, userId: unknown, assetId: unknown, vaultIn: unknown): WalletAddress {
  const asset = assetOf(assetId);
  const vault = vaultOf(vaultIn);
  const path = vaultPath(asset, vault);
  const pub = derivePublicKey(userKey(st, userId, asset), path);
  // ECDSA keys: BIP-32 CKDpub gives the compressed key; anything else is not a key to pay from.
  if (asset.scheme === 'dkls23-secp256k1' && pub.length !== 33) throw new CosignerError('ERR_INTERNAL', 'derived ECDSA key is not a compressed point');
  const address = addressOf(asset, pub);
  return { asset: asset.id, vault, keyDerivationPath: formatDerivationPath(path), publicKey: hex.encode(pub), address };
}

/** A decimal amount in smallest units; refused when not positive or finer than the asset's decimals. */
export function toUnits(amount: unknown, decimals: number): bigint {
  const m = typeof amount === 'string' ? /^([0-9]{1,20})(?:\.([0-9]{1,18}))?$/.exec(amount) : null;
  const frac = (m?.[2] ?? '').replace(/0+$/, '');
  if (!m || frac.length > decimals) throw bad(`amount must be a decimal with at most ${decimals} fraction digits`);
  const units = BigInt(m[1] as string) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0');
  if (units <= 0n) throw bad('amount must be positive');
  return units;
}

function checkDestination(asset: AssetInfo, to: unknown): string {
  if (typeof to !== 'string' || to.length > 128) throw bad('to must be an address');
  if (asset.chain === 'ethereum') return checkEthereumDestination(to);
  if (asset.chain === 'bitcoin') {
    try {
      Address(TEST_NETWORK).decode(to);
    } catch {
      throw bad('to is not a Bitcoin testnet address');
    }
  } else if (!isAddress(to)) {
    throw bad('to is not a Solana address');
  }
  return to;
}

/** Where a `tamper: destination` transfer really pays: a key nobody in the workspace holds. */
function attackerAddress(asset: AssetInfo): string {
  const secret = sha256(new TextEncoder().encode(`nitro-cosigner/reference-coordinator/attacker/${asset.id}`));
  if (asset.addressType === 'p2tr') return taprootAddress(schnorr.getPublicKey(secret), TEST_NETWORK);
  if (asset.addressType === 'solana') return solanaAddress(ed25519.getPublicKey(secret));
  return addressOf(asset, secp256k1.getPublicKey(secret, true));
}

/** The next synthetic nonce of an Ethereum address (0, 1, …): a chain would say which is next. */
function nextNonce(st: CoordinatorState, address: string): bigint {
  let m = fundingCounters.get(st);
  if (!m) fundingCounters.set(st, (m = new Map()));
  const key = `nonce/${address}`;
  const n = m.get(key) ?? 0;
  m.set(key, n + 1);
  return BigInt(n);
}

function fundingUtxo(st: CoordinatorState, address: string, amount: bigint): { txid: string; vout: number; amount: bigint } {
  let m = fundingCounters.get(st);
  if (!m) fundingCounters.set(st, (m = new Map()));
  const n = (m.get(address) ?? 0) + 1;
  m.set(address, n);
  // Deterministic from address and counter: the same synthetic history on every run.
  const txid = hex.encode(sha256(new TextEncoder().encode(`nitro-cosigner/reference-coordinator/funding/${address}/${n}`)));
  return { txid, vout: 0, amount: amount + BTC_FUNDING_MARGIN };
}

function syntheticBlockhash(): string {
  blockhashCounter += 1;
  return base58.encode(sha256(new TextEncoder().encode(`nitro-cosigner/reference-coordinator/blockhash/${blockhashCounter}`)));
}

interface Built {
  readonly entries: { format: string; rawTx: string; payload: string }[];
  readonly amountStr: string;
  readonly fee: string;
}

/** The unsigned transaction paying `units` from the wallet to `payTo`. */
function build(st: CoordinatorState, asset: AssetInfo, from: WalletAddress, payTo: string, units: bigint): Built {
  const pub = hex.decode(from.publicKey);
  if (asset.chain === 'bitcoin') {
    const req = { utxos: [fundingUtxo(st, from.address, units)], to: payTo, amount: units, feeRate: BTC_FEE_RATE, network: TEST_NETWORK };
    const s = asset.addressType === 'p2wpkh' ? buildSegwitSpend({ ...req, publicKey: pub }) : buildTaprootSpend({ ...req, outputKey: pub });
    return { entries: s.entries, amountStr: s.amountStr, fee: satsToBtc(s.fee) };
  }
  if (asset.chain === 'ethereum') {
    const t = buildEthereumTransfer({ chainId: SEPOLIA_CHAIN_ID, nonce: nextNonce(st, from.address), to: payTo, value: units });
    return { entries: [t.entry], amountStr: t.amountStr, fee: weiToEth(t.maxFee) };
  }
  const s = buildSolanaTransfer({ from: pub, to: payTo, lamports: units, recentBlockhash: syntheticBlockhash() });
  return { entries: [s.entry], amountStr: s.amountStr, fee: lamportsToSol(SOL_FEE_LAMPORTS) };
}

function tamperOf(v: unknown): Tamper | undefined {
  if (v === undefined) return undefined;
  if (v !== 'payload' && v !== 'destination') throw bad('tamper must be "payload" or "destination"');
  return v;
}

function optionalId(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[A-Za-z0-9._:@/+-]{1,128}$/.test(v)) throw bad(`bad ${name}`);
  return v;
}

/** The transfer's request to createTransaction: handler-facing description plus rawTx entries. */
function describe(st: CoordinatorState, b: Record<string, unknown>, w: WalletAddress, to: string, built: Built, entries: TransactionEntry[]): Record<string, unknown> {
  if (b.note !== undefined && (typeof b.note !== 'string' || b.note.length > 2048)) throw bad('note must be a string of at most 2048 characters');
  const destType = b.destType ?? 'ONE_TIME';
  if (destType !== 'ONE_TIME' && destType !== 'UNMANAGED') throw bad('destType must be ONE_TIME or UNMANAGED');
  const note = b.note as string | undefined;
  const externalTxId = optionalId(b.externalTxId, 'externalTxId');
  const amount = Number(built.amountStr);
  return {
    userId: b.userId,
    scheme: assetOf(w.asset).scheme,
    operation: 'TRANSFER',
    sourceType: 'VAULT',
    sourceId: String(w.vault),
    destType,
    destAddressType: 'ONE_TIME',
    destAddress: to,
    asset: w.asset,
    amount,
    amountStr: built.amountStr,
    requestedAmount: amount,
    requestedAmountStr: built.amountStr,
    fee: built.fee,
    destinations: [{ amountNative: amount, amountNativeStr: built.amountStr, dstType: destType, dstAddressType: 'ONE_TIME', displayDstAddress: to }],
    players: st.participants.slice(0, st.threshold).map(String),
    ...(note !== undefined ? { note } : {}),
    ...(externalTxId !== undefined ? { externalTxId } : {}),
    rawTx: entries,
  };
}

/** The signed transaction from the record's verified signatures (the chain library verifies each again). */
async function finalize(asset: AssetInfo, tx: TransferRecord, from: WalletAddress): Promise<{ signedTx: string; networkTxId: string }> {
  const sigs = tx.entries.map((e) => hex.decode(e.signature ?? ''));
  const first = tx.entries[0]!;
  if (asset.chain === 'ethereum') return finalizeEthereum(first, from);
  if (asset.addressType === 'p2wpkh') {
    const r = finalizeSegwitSpend(hex.decode(first.rawTx), sigs, hex.decode(from.publicKey));
    return { signedTx: r.hex, networkTxId: r.txid };
  }
  if (asset.chain === 'bitcoin') {
    const r = finalizeTaprootSpend(hex.decode(first.rawTx), sigs);
    return { signedTx: r.hex, networkTxId: r.txid };
  }
  // A Solana transaction is known by its first (the fee payer's) signature.
  return { signedTx: finalizeSolanaTransfer(hex.decode(first.rawTx), sigs[0]!), networkTxId: base58.encode(sigs[0]!) };
}

/** POST /v1/transfers: build, sign through createTransaction, finalize. */
export async function createTransfer(st: CoordinatorState, input: unknown): Promise<TransferRecord> {
  const b = (input ?? {}) as Record<string, unknown>;
  const allowed = ['userId', 'asset', 'vault', 'to', 'amount', 'note', 'tamper', 'externalTxId', 'destType'];
  const extra = Object.keys(b).find((k) => !allowed.includes(k));
  if (extra !== undefined) throw bad(`unknown field ${extra.slice(0, 40)}`);
  const asset = assetOf(b.asset);
  const w = walletAddress(st, b.userId, asset.id, b.vault ?? 0);
  const to = checkDestination(asset, b.to);
  const units = toUnits(b.amount, asset.decimals);
  const tamper = tamperOf(b.tamper);
  // `destination`: the description keeps naming `to` while the transaction pays someone else; each
  // payload still matches its rawTx, so only a handler that reads rawTx can notice.
  const built = build(st, asset, w, tamper === 'destination' ? attackerAddress(asset) : to, units);
  const entries: TransactionEntry[] = built.entries.map((e) => ({ keyDerivationPath: w.keyDerivationPath, format: asset.format, rawTx: e.rawTx, payload: e.payload }));
  if (tamper === 'payload') {
    // `payload`: the first entry asks for the signature hash / message of another transaction (one
    // paying the attacker); the co-signer recomputes payloads from rawTx and must refuse it.
    const other = build(st, asset, w, attackerAddress(asset), units);
    entries[0] = { ...entries[0]!, payload: other.entries[0]!.payload };
  }
  const tx: TransferRecord = await createTransaction(st, describe(st, b, w, to, built, entries));
  tx.transfer = { asset: asset.id, vault: w.vault, from: w.address, to, keyDerivationPath: w.keyDerivationPath, ...(tamper ? { tamper } : {}) };
  if (tx.status !== 'signed') return tx;
  try {
    Object.assign(tx, await finalize(asset, tx, w));
  } catch (err) {
    // Every signature verified in createTransaction; a chain library refusing it is still a failure.
    tx.status = 'failed';
    tx.error = { code: 'ERR_BAD_SHARE', message: `the signed transaction does not finalize: ${(err as Error).message}` };
  }
  return tx;
}
