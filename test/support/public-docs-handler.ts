// A Callback Handler written only from the public documentation (the Callback Handler protocol
// facts and docs/callback-handler.md, "Raw transactions by format"), for integration tests: it
// shares no code with nitro-cosigner, only the libraries a handler author would pick. It reads the
// raw body, verifies the RS256 JWS with the co-signer public key, recomputes every rawTx payload,
// checks destination and amount, and answers {action, requestId} as a JWS signed with its own key.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { Address, NETWORK, OutScript, SigHash, TEST_NETWORK, Transaction } from '@scure/btc-signer';
import { hex } from '@scure/base';
import { getCompiledTransactionMessageDecoder, getTransactionDecoder, AccountRole, type Address as SolAddress } from '@solana/kit';
import { parseTransferSolInstruction, SYSTEM_PROGRAM_ADDRESS } from '@solana-program/system';
import { getAddress, keccak256, parseTransaction, serializeTransaction, type Hex } from 'viem';

export interface PublicDocsDecision { path: string; requestId: string; action: string; rejectionReason?: string }

export interface PublicDocsHandler {
  /** Base URL; the co-signer appends /v2/tx_sign_request and /v2/config_change_sign_request. */
  readonly url: string;
  /** This handler's response-signing key (RS256), to configure for the API user. */
  readonly publicKeyPem: string;
  readonly decisions: PublicDocsDecision[];
  close(): Promise<void>;
}

type Req = Record<string, unknown>;
type Paid = Map<string, bigint>;

/** Decimal amount ("0.0004") in smallest units; undefined when it cannot be read exactly. */
function units(amount: unknown, decimals: number): bigint | undefined {
  const m = typeof amount === 'string' ? /^(\d{1,30})(?:\.(\d{1,40}))?$/.exec(amount) : null;
  const frac = (m?.[2] ?? '').replace(/0+$/, '');
  if (!m || frac.length > decimals) return undefined;
  return BigInt(m[1] as string) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0');
}

/** destinations[] (displayDstAddress, amountNativeStr) when present, else destAddress + amountStr. */
function described(tx: Req, decimals: number): Paid | undefined {
  const list = (Array.isArray(tx.destinations) ? tx.destinations : []) as Req[];
  const pairs = list.some((d) => d.displayDstAddress) ? list.map((d) => [d.displayDstAddress, d.amountNativeStr]) : [[tx.destAddress, tx.amountStr]];
  const out: Paid = new Map();
  for (const [address, amount] of pairs) {
    const u = units(amount, decimals);
    if (typeof address !== 'string' || !address || u === undefined) return undefined;
    out.set(address, (out.get(address) ?? 0n) + u);
  }
  return out;
}

const sameMap = (a: Paid, b: Paid): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** BIP-341 key-path sighash of a P2TR input, BIP-143 (SIGHASH_ALL) of a P2WPKH one, '' otherwise. */
function sighashOf(psbt: Transaction, i: number, scripts: Uint8Array[], amounts: bigint[]): string {
  const spent = OutScript.decode(scripts[i]!);
  const type = psbt.getInput(i).sighashType;
  if (spent.type === 'tr') return (type ?? SigHash.DEFAULT) === SigHash.DEFAULT ? hex.encode(psbt.preimageWitnessV1(i, scripts, SigHash.DEFAULT, amounts)) : '';
  if (spent.type === 'wpkh' && (type ?? SigHash.ALL) === SigHash.ALL) return hex.encode(psbt.preimageWitnessV0(i, OutScript.encode({ type: 'pkh', hash: spent.hash }), SigHash.ALL, amounts[i]!));
  return '';
}

function bitcoinOk(rawTx: string, payload: string, tx: Req): boolean {
  const psbt = Transaction.fromPSBT(hex.decode(rawTx));
  const inputs = Array.from({ length: psbt.inputsLength }, (_, i) => psbt.getInput(i));
  if (inputs.some((i) => !i.witnessUtxo)) return false;
  const scripts = inputs.map((i) => i.witnessUtxo!.script);
  const amounts = inputs.map((i) => i.witnessUtxo!.amount);
  const hashes = inputs.map((_, i) => sighashOf(psbt, i, scripts, amounts));
  if (hashes.includes('')) return false; // an input of another kind, or another sighash type
  if (!hashes.includes(payload)) return false;
  const want = described(tx, 8);
  if (!want) return false;
  const byScript = new Map<string, string>();
  for (const address of want.keys()) {
    const net = /^(tb1|bcrt1)/.test(address) ? TEST_NETWORK : NETWORK;
    byScript.set(hex.encode(OutScript.encode(Address(net).decode(address))), address);
  }
  const ours = new Set(scripts.map((s) => hex.encode(s)));
  const paid: Paid = new Map();
  for (let i = 0; i < psbt.outputsLength; i++) {
    const o = psbt.getOutput(i);
    const s = hex.encode(o.script!);
    const address = byScript.get(s);
    if (address) paid.set(address, (paid.get(address) ?? 0n) + o.amount!);
    else if (!ours.has(s)) return false; // neither a destination nor change back to the sender
  }
  return sameMap(paid, want);
}

function solanaOk(rawTx: string, payload: string, tx: Req): boolean {
  const decoded = getTransactionDecoder().decode(hex.decode(rawTx));
  if (hex.encode(Uint8Array.from(decoded.messageBytes)) !== payload) return false;
  const m = getCompiledTransactionMessageDecoder().decode(decoded.messageBytes);
  if (m.version === 1) return false;
  const want = described(tx, 9);
  if (!want) return false;
  const paid: Paid = new Map();
  for (const ix of m.instructions) {
    if (m.staticAccounts[ix.programAddressIndex] !== SYSTEM_PROGRAM_ADDRESS || !ix.data) return false;
    const accounts = (ix.accountIndices ?? []).map((i) => ({ address: m.staticAccounts[i] as SolAddress, role: AccountRole.READONLY }));
    const t = parseTransferSolInstruction({ programAddress: SYSTEM_PROGRAM_ADDRESS, accounts, data: ix.data });
    paid.set(t.accounts.destination.address, (paid.get(t.accounts.destination.address) ?? 0n) + t.data.amount);
  }
  return sameMap(paid, want);
}

/** An unsigned EIP-1559 transfer (viem parses): payload = keccak256(rawTx), paying exactly what is described. */
function ethereumOk(rawTx: string, payload: string, tx: Req): boolean {
  const serialized = `0x${rawTx}` as Hex;
  const parsed = parseTransaction(serialized);
  if (parsed.type !== 'eip1559' || parsed.r !== undefined || parsed.s !== undefined || parsed.yParity !== undefined) return false;
  // Canonical bytes only: what viem re-serialises from the fields is exactly what is hashed.
  if (serializeTransaction(parsed) !== serialized) return false;
  if (keccak256(serialized) !== `0x${payload}`) return false;
  if (!parsed.chainId || !parsed.to || (parsed.data !== undefined && parsed.data !== '0x')) return false;
  const want = described(tx, 18);
  if (!want) return false;
  const normalised: Paid = new Map();
  for (const [address, amount] of want) normalised.set(getAddress(address), (normalised.get(getAddress(address)) ?? 0n) + amount);
  return sameMap(new Map([[getAddress(parsed.to), parsed.value ?? 0n]]), normalised);
}

/** A rejection reason, or undefined to approve. */
function judge(tx: Req): string | undefined {
  const entries = tx.rawTx === undefined ? [] : tx.rawTx;
  if (!Array.isArray(entries)) return 'rawTx is not a list';
  for (const [i, e] of (entries as Req[]).entries()) {
    const rawTx = String(e.rawTx ?? '').toLowerCase();
    const payload = String(e.payload ?? '').toLowerCase();
    let ok = false;
    try {
      if (e.format === 'raw') ok = rawTx !== '' && rawTx === payload;
      else if (e.format === 'bitcoin-psbt') ok = bitcoinOk(rawTx, payload, tx);
      else if (e.format === 'solana') ok = solanaOk(rawTx, payload, tx);
      else if (e.format === 'ethereum') ok = ethereumOk(rawTx, payload, tx);
    } catch {
      ok = false;
    }
    if (!ok) return `rawTx[${i}] (${String(e.format).slice(0, 32)}) is not the transaction described`;
  }
  return undefined;
}

/** Starts the handler on loopback (HTTP, or HTTPS with `tls`). */
export async function startPublicDocsHandler(opts: { cosignerPublicKeyPem: string; tls?: { certPem: string; keyPem: string } }): Promise<PublicDocsHandler> {
  const cosignerKey = createPublicKey(opts.cosignerPublicKeyPem);
  const own = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const decisions: PublicDocsDecision[] = [];
  const listener = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const path = req.url ?? '';
    if (req.method !== 'POST' || !['/v2/tx_sign_request', '/v2/config_change_sign_request'].includes(path)) return void res.writeHead(404).end();
    let request: Req;
    try {
      request = (await jwtVerify(Buffer.concat(chunks).toString('utf8'), cosignerKey, { algorithms: ['RS256'] })).payload as Req;
    } catch {
      return void res.writeHead(401).end();
    }
    const requestId = String(request.requestId ?? '');
    const reason = path === '/v2/tx_sign_request' ? judge(request) : undefined;
    const answer = { action: reason ? 'REJECT' : 'APPROVE', requestId, ...(reason ? { rejectionReason: reason } : {}) };
    decisions.push({ path, ...answer });
    const body = await new SignJWT(answer).setProtectedHeader({ alg: 'RS256' }).setIssuedAt().sign(own.privateKey);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  };
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    listener(req, res).catch(() => (res.headersSent ? res.destroy() : res.writeHead(500).end()));
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, handle) : http.createServer(handle);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    publicKeyPem: own.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    decisions,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
