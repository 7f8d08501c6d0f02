// Local development host only. `make demo`: the whole co-signer on one machine, driven the way an
// operator drives it. Starts the local stack (local/stack.ts), then through the real `cosigner`
// CLI runs setup and add-user, has the workspace owner approve the new key share at the reference
// coordinator, and asks the coordinator for transfers from derived vault addresses (real Bitcoin
// Taproot and Solana transactions, local/coordinator/wallets.ts) whose outcomes are known in advance:
//   1. BTC_TEST from vault 0's Taproot address: signed, checked with btc-signer and schnorr.verify;
//   2. rejected by the Callback Handler (amount above its BTC_TEST limit);
//   3. SOL_TEST from vault 1's address: signed, Ed25519 checked over the message;
//   4. the coordinator tampers with a payload: the co-signer itself refuses (ERR_PAYLOAD_MISMATCH);
//   5. the coordinator's transaction pays another address: the handler reads rawTx and rejects;
//   6. answered RETRY first, then approved and signed;  7. the handler never answers: no signature.
// Then threshold ECDSA (local/demo-ecdsa.ts): ETH_TEST from vault 0's derived Ethereum address (the
// sender viem recovers is that address), BTC_TEST_SEGWIT with a SegWit v0 input, and a tampered
// Ethereum payload the co-signer refuses. Then an owner-approved Callback Handler change, `cosigner
// status`, the last log lines, shutdown.
// Exit 0 only if every outcome matched.
//
// Demo settings (said again in the output): Callback Handler calls time out after 2 s instead of 30 s,
// and the handler client's clock runs 100× faster, so the protocol's 30 s minimum RETRY interval
// takes 0.3 s. Everything else is the production code path.
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { startLocalStack, type LocalStack } from './stack.ts';
import { DEMO_RECIPIENTS, signedSize, verifyBitcoinTransfer, verifySolanaTransfer, type TransferTx, type VaultAddress } from './demo-transfers.ts';
import { runEcdsaTransactions } from './demo-ecdsa.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
/** Every outcome the demo checks, in order. */
const outcomes: { name: string; ok: boolean; detail: string }[] = [];

const secs = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
function say(line: string): void {
  process.stdout.write(`[${secs()}] ${line}\n`);
}
function step(title: string): void {
  process.stdout.write(`\n[${secs()}] ── ${title}\n`);
}
/** A command's output, indented under the demo's line, ending in exactly one newline. */
function indent(text: string): string {
  const body = text.trimEnd();
  return body === '' ? '' : `${body.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
}
function expectThat(name: string, ok: boolean, detail: string): void {
  outcomes.push({ name, ok, detail });
  say(`${ok ? 'OK      ' : 'MISMATCH'} ${name}: ${detail}`);
}

/** The demo user and its handler's rules. */
const USER = 'demo-treasury';
const WORKSPACE = 'demo-workspace';
const HANDLER_RULES = { maxAmountPerAsset: { BTC_TEST: '0.01', SOL_TEST: '1', ETH_TEST: '0.1', BTC_TEST_SEGWIT: '0.01' }, requireRawTxFormat: true };
/** The coordinator's policy in the demo: transfers of the demo assets go straight to signing. */
const DEMO_POLICY = { rules: ['BTC_TEST', 'SOL_TEST', 'ETH_TEST', 'BTC_TEST_SEGWIT'].map((asset) => ({ name: 'demo transfers', asset, action: 'allow' })), defaultAction: 'require-approval' };
export const DEMO_CALLBACK = { timeoutMs: 2_000, retryIntervalMs: 30_000, retryTotalMs: 120_000, clockSpeedup: 100 } as const;

type Obj = Record<string, unknown>;

interface Tx {
  id: string;
  status: string;
  scheme: string;
  payload: string;
  signature?: string;
  publicKey?: string;
  verified?: boolean;
  error?: { code: string; message: string };
  approval?: { decision: string };
}

/**
 * Verify a final signature with a standard verifier: node:crypto Ed25519, noble's BIP-340 schnorr,
 * noble's ECDSA (r ‖ s, low-S, over the 32-byte payload digest, compressed key) for dkls23-secp256k1.
 */
export function verifyWithStandardVerifier(tx: Pick<Tx, 'scheme' | 'payload' | 'signature' | 'publicKey'>): boolean {
  if (!tx.signature || !tx.publicKey) return false;
  const msg = Buffer.from(tx.payload, 'hex');
  const sig = Buffer.from(tx.signature, 'hex');
  const pub = Buffer.from(tx.publicKey, 'hex');
  if (tx.scheme === 'frost-ed25519') {
    if (pub.length !== 32) return false;
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
    return nodeVerify(null, msg, key, sig);
  }
  if (tx.scheme === 'frost-secp256k1-tr') {
    const xOnly = pub.length === 33 ? pub.subarray(1) : pub;
    return schnorr.verify(sig, msg, xOnly);
  }
  if (tx.scheme === 'dkls23-secp256k1') {
    if (msg.length !== 32 || sig.length !== 64) return false;
    return secp256k1.verify(sig, msg, pub, { prehash: false, lowS: true });
  }
  return false;
}

async function rest<T>(stack: LocalStack, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const url = `${stack.coordinator!.restUrl.replace(/\/+$/, '')}${path}`;
  const r = await fetch(url, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`coordinator ${method} ${path}: HTTP ${r.status}, not JSON`);
  }
  // A refused transaction comes back as 4xx with the transaction record as its body.
  const isRecord = parsed !== null && typeof parsed === 'object' && typeof (parsed as Obj).status === 'string' && typeof (parsed as Obj).id === 'string';
  if (!r.ok && !isRecord) throw new Error(`coordinator ${method} ${path}: HTTP ${r.status} ${text.slice(0, 300)}`);
  return parsed as T;
}

async function cosigner(stack: LocalStack, args: string[]): Promise<{ code: number; json: Obj | undefined; stdout: string; stderr: string }> {
  say(`$ cosigner ${args.map((a) => (a.length > 60 ? `${a.slice(0, 57)}...` : a)).join(' ')}`);
  const r = await stack.cli(args, { timeoutMs: 120_000 });
  let json: Obj | undefined;
  try {
    json = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Obj;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

type DemoHandler = NonNullable<Awaited<ReturnType<LocalStack['startHandler']>>>;

/** Steps 3–6: setup, the Callback Handler, pairing, the owner's approval. Undefined when a step failed. */
async function setUpAndPair(stack: LocalStack): Promise<DemoHandler | undefined> {
  const kms = stack.kms!;
  const coordinator = stack.coordinator!;
  step('3. cosigner setup (non-interactive flags, as in automation)');
  const coordPem = join(stack.dir, 'coordinator-public-key.pem');
  await writeFile(coordPem, coordinator.publicKeyPem);
  // The workspace owner's key: every later change to this co-signer needs the owner's signature.
  const ownerPem = join(stack.dir, 'owner-public-key.pem');
  await writeFile(ownerPem, coordinator.ownerPublicKeyPem);
  const setup = await cosigner(stack, [
    'setup', '--json', '--yes',
    '--kms-key-arn', kms.keyArn,
    '--region', kms.region,
    '--kms-endpoint', kms.url,
    '--coordinator-url', stack.coordinatorEndpoint ?? coordinator.cosignerUrl,
    '--coordinator-public-key', coordPem,
    '--owner-public-key', ownerPem,
  ]);
  const setupResult = (setup.json?.result ?? {}) as Obj;
  expectThat('setup', setup.code === 0 && typeof setupResult.cosignerId === 'string', setup.code === 0 ? `co-signer ${String(setupResult.cosignerId)}, secrets sealed with KMS` : `exit ${setup.code}: ${setup.stderr.trim() || setup.stdout.trim()}`);
  if (setup.code !== 0) return undefined;

  step('4. print-public-key, then start the sample Callback Handler with it');
  const pk = await cosigner(stack, ['print-public-key', '--json']);
  const pem = String(((pk.json?.result ?? {}) as Obj).publicKeyPem ?? '');
  expectThat('print-public-key', pk.code === 0 && pem.includes('BEGIN PUBLIC KEY'), pk.code === 0 ? `RSA key, SPKI SHA-256 ${String(((pk.json?.result ?? {}) as Obj).spkiSha256 ?? '').slice(0, 16)}…` : pk.stderr.trim());
  const handler = await stack.startHandler({ cosignerPublicKeyPem: pem, rules: HANDLER_RULES });
  if (!handler) {
    for (const m of stack.missing) say(`MISSING: ${m}`);
    expectThat('sample Callback Handler', false, 'not available in this tree');
    return undefined;
  }
  say(`handler rules: ${JSON.stringify(HANDLER_RULES)}`);
  const handlerPem = join(stack.dir, 'handler-public-key.pem');
  await writeFile(handlerPem, handler.publicKeyPem);

  step('5. add-user with a pairing token from the coordinator (distributed key generation)');
  const token = (await rest<{ token: string }>(stack, 'POST', '/v1/pairing-tokens', { userId: USER, workspace: WORKSPACE })).token;
  say(`pairing token issued for ${USER} (valid 1 h, single use)`);
  const add = await cosigner(stack, ['add-user', '--json', '--yes', '--pairing-token', token, '--callback-url', handler.url, '--auth-mode', 'public-key', '--handler-public-key', handlerPem]);
  const addUser = ((add.json?.result ?? {}) as Obj).user as Obj | undefined;
  expectThat('add-user', add.code === 0 && addUser?.status === 'pending', add.code === 0 ? `user ${String(addUser?.id)} paired, ${(addUser?.keys as unknown[] | undefined)?.length ?? 0} keys, status ${String(addUser?.status)} until the owner approves` : `exit ${add.code}: ${add.stderr.trim() || add.stdout.trim()}`);
  if (add.code !== 0) return undefined;

  step('6. the workspace owner approves the new key share at the coordinator');
  await rest(stack, 'POST', `/v1/users/${USER}/approve`, {});
  const list = await cosigner(stack, ['list-users', '--json']);
  const users = (((list.json?.result ?? {}) as Obj).users ?? []) as Obj[];
  const me = users.find((u) => u.id === USER);
  expectThat('owner approval', me?.status === 'active', `list-users shows ${USER} ${String(me?.status)}`);
  const keys = (me?.keys ?? []) as Obj[];
  for (const k of keys) say(`  key ${String(k.scheme).padEnd(18)} ${String(k.keyId)}  group public key ${String(k.groupPublicKey).slice(0, 24)}…`);

  return handler;
}

/** POST /v1/transfers: the coordinator builds the chain transaction from a derived vault address. */
async function transfer(stack: LocalStack, label: string, input: Obj): Promise<TransferTx> {
  say(`${label}: POST /v1/transfers ${JSON.stringify(input)}`);
  const t0 = Date.now();
  const tx = await rest<TransferTx>(stack, 'POST', '/v1/transfers', { userId: USER, ...input });
  say(`${label}: status ${tx.status} after ${Date.now() - t0} ms${tx.error ? ` (${tx.error.code}: ${tx.error.message})` : ''}`);
  return tx;
}

async function vaultAddress(stack: LocalStack, asset: string, vault: number): Promise<VaultAddress> {
  const a = await rest<VaultAddress>(stack, 'GET', `/v1/users/${USER}/addresses?asset=${asset}&vault=${vault}`);
  say(`  ${asset} vault ${vault}: ${a.address}  path ${a.keyDerivationPath}  key ${a.publicKey.slice(0, 16)}…`);
  return a;
}

/** Step 7: transfers from derived addresses, and their expected outcomes. */
async function runTransactions(stack: LocalStack, handler: DemoHandler): Promise<void> {
  step('7. transfers from derived vault addresses (BTC_TEST: Taproot, testnet; SOL_TEST: Solana devnet)');
  // Transfers go straight to signing (no separate approval stage): the co-signer asks the handler
  // once, with the raw transaction, so a refusal by the co-signer itself shows as "no handler call".
  await rest(stack, 'PUT', '/v1/policy', DEMO_POLICY);
  say(`coordinator policy: ${JSON.stringify(DEMO_POLICY)}`);
  const btc = await vaultAddress(stack, 'BTC_TEST', 0);
  const sol = await vaultAddress(stack, 'SOL_TEST', 1);
  const rejects = (): number => handler.calls.filter((c) => c.action === 'REJECT').length;

  const tx1 = await transfer(stack, 'tx 1', { asset: 'BTC_TEST', vault: 0, to: DEMO_RECIPIENTS.BTC_TEST, amount: '0.00025', note: 'demo: pay a supplier' });
  const v1 = verifyBitcoinTransfer(tx1, btc);
  say(`tx 1: from ${String(tx1.transfer?.from)} (path ${String(tx1.transfer?.keyDerivationPath)}), txid ${String(tx1.networkTxId)}, signed transaction ${signedSize(tx1)} bytes`);
  expectThat('1. BTC_TEST transfer from the vault 0 Taproot address: signed', tx1.status === 'signed' && v1.ok && tx1.transfer?.from === btc.address, v1.detail);

  const rejBefore = rejects();
  const tx2 = await transfer(stack, 'tx 2', { asset: 'BTC_TEST', vault: 0, to: DEMO_RECIPIENTS.BTC_TEST, amount: '0.5' });
  expectThat('2. rejected by the handler (above its BTC_TEST limit)', tx2.status === 'rejected' && !tx2.signedTx && rejects() > rejBefore, `status ${tx2.status}, no signed transaction; handler answered REJECT`);

  const tx3 = await transfer(stack, 'tx 3', { asset: 'SOL_TEST', vault: 1, to: DEMO_RECIPIENTS.SOL_TEST, amount: '0.25' });
  const v3 = verifySolanaTransfer(tx3, sol);
  say(`tx 3: from ${String(tx3.transfer?.from)} (path ${String(tx3.transfer?.keyDerivationPath)}), signature ${String(tx3.networkTxId).slice(0, 24)}…, signed transaction ${signedSize(tx3)} bytes`);
  expectThat('3. SOL_TEST transfer from the vault 1 address: signed', tx3.status === 'signed' && v3.ok, v3.detail);

  const callsBefore = handler.calls.length;
  const tx4 = await transfer(stack, 'tx 4 (coordinator tampers: payload of another transaction)', { asset: 'BTC_TEST', vault: 0, to: DEMO_RECIPIENTS.BTC_TEST, amount: '0.0001', tamper: 'payload' });
  const asked4 = handler.calls.length - callsBefore;
  expectThat('4. tampered payload refused by the co-signer itself', tx4.status === 'failed' && tx4.error?.code === 'ERR_PAYLOAD_MISMATCH' && asked4 === 0, `${String(tx4.error?.code)}: the enclave recomputed the sighash from the PSBT; handler calls: ${asked4}`);

  const tx5 = await transfer(stack, 'tx 5 (coordinator tampers: the transaction pays another address)', { asset: 'SOL_TEST', vault: 1, to: DEMO_RECIPIENTS.SOL_TEST, amount: '0.1', tamper: 'destination' });
  const last = handler.calls.at(-1);
  expectThat('5. tampered destination rejected by the handler', tx5.status === 'rejected' && !tx5.signedTx && last?.action === 'REJECT', `status ${tx5.status}: the handler read rawTx and found a payment the request does not name`);

  // RETRY first, then approved
  handler.rules = { ...HANDLER_RULES, retryFirstN: 1 };
  const retriesBefore = handler.calls.filter((c) => c.action === 'RETRY').length;
  const tx6 = await transfer(stack, 'tx 6', { asset: 'SOL_TEST', vault: 1, to: DEMO_RECIPIENTS.SOL_TEST, amount: '0.2' });
  const retries = handler.calls.filter((c) => c.action === 'RETRY').length - retriesBefore;
  handler.rules = { ...HANDLER_RULES };
  expectThat('6. retried, then approved and signed', tx6.status === 'signed' && verifySolanaTransfer(tx6, sol).ok && retries > 0, `handler answered RETRY ${retries}× then APPROVE`);

  // The handler never answers
  handler.faults.neverAnswer = true;
  const silentBefore = handler.calls.length;
  const tx7 = await transfer(stack, 'tx 7', { asset: 'SOL_TEST', vault: 1, to: DEMO_RECIPIENTS.SOL_TEST, amount: '0.2' });
  handler.faults.neverAnswer = false;
  expectThat('7. handler never answers: no signature', tx7.status !== 'signed' && !tx7.signedTx && handler.calls.length > silentBefore, `status ${tx7.status}${tx7.error ? ` (${tx7.error.code})` : ''}; handler received ${handler.calls.length - silentBefore} call(s) and never answered`);
}

/** Step 8: the handler's key changes; the operator can only propose it, the workspace owner approves. */
async function ownerApprovedHandlerChange(stack: LocalStack): Promise<void> {
  step('8. a Callback Handler change: proposed by the operator, approved by the workspace owner');
  const pk = await cosigner(stack, ['print-public-key', '--json']);
  const cosignerPem = String(((pk.json?.result ?? {}) as Obj).publicKeyPem ?? '');
  // The handler's operator rotates its signing key (same URL, new key).
  const fresh = await stack.startHandler({ cosignerPublicKeyPem: cosignerPem, rules: HANDLER_RULES });
  if (!fresh) {
    expectThat('owner-approved handler change', false, 'sample Callback Handler not available');
    return;
  }
  const pemFile = join(stack.dir, 'handler-public-key-2.pem');
  await writeFile(pemFile, fresh.publicKeyPem);
  const sol = await vaultAddress(stack, 'SOL_TEST', 1);
  const body = { asset: 'SOL_TEST', vault: 1, to: DEMO_RECIPIENTS.SOL_TEST, amount: '0.05' };
  const prop = await cosigner(stack, ['callback-update', USER, '--json', '--callback-url', fresh.url, '--auth-mode', 'public-key', '--handler-public-key', pemFile]);
  const pending = ((prop.json?.result ?? {}) as Obj).pending as Obj | undefined;
  const changeId = String(pending?.changeId ?? '');
  expectThat('8a. handler change proposed, not applied', prop.code === 0 && changeId !== '', prop.code === 0 ? `change ${changeId} (digest ${String(pending?.digest ?? '').slice(0, 16)}…) waits for the owner` : `exit ${prop.code}: ${prop.stderr.trim() || prop.stdout.trim()}`);
  if (changeId === '') return;
  const listed = await cosigner(stack, ['changes']);
  process.stdout.write(indent(listed.stdout));
  const before = await transfer(stack, 'tx 8 (before the owner approves)', body);
  expectThat('8b. not signed while the change waits', before.status !== 'signed' && !before.signedTx, `status ${before.status}: the enclave still trusts only the old handler key`);
  say(`owner: POST /v1/changes/${changeId}/approve (the owner's key signs the change; the enclave verifies it)`);
  await rest(stack, 'POST', `/v1/changes/${changeId}/approve`, {});
  const after = await transfer(stack, 'tx 9 (after the owner approved)', body);
  const v = verifySolanaTransfer(after, sol);
  expectThat('8c. owner-approved handler change applied: signed', after.status === 'signed' && v.ok, `status ${after.status}; ${v.detail}`);
}

async function run(): Promise<void> {
  step('1. build artifacts');
  const bundle = join(repoRoot, 'build', 'enclave-dev.mjs');
  if (!existsSync(bundle) || !existsSync(join(repoRoot, 'build', 'measurements-dev.json'))) {
    throw new Error('build/enclave-dev.mjs or build/measurements-dev.json is missing: run `make build` (make demo does)');
  }
  say(`enclave bundle ${bundle}`);
  say(`demo settings: Callback Handler call timeout ${DEMO_CALLBACK.timeoutMs} ms (production: 30 s); handler-client clock ${DEMO_CALLBACK.clockSpeedup}x faster, so the 30 s RETRY interval takes ${30_000 / DEMO_CALLBACK.clockSpeedup} ms`);

  step('2. local stack (KMS, IMDSv2, coordinator stand-ins; parent daemon; enclave)');
  const stack = await startLocalStack({ dir: join(repoRoot, '.local', 'demo'), fresh: true, callback: DEMO_CALLBACK, log: say });
  try {
    const blocking = stack.missing.filter((m) => /KMS|coordinator|daemon|attestation|IMDS/.test(m));
    if (blocking.length > 0 || !stack.kms || !stack.coordinator || !stack.daemonRunning) {
      for (const m of stack.missing) say(`MISSING: ${m}`);
      expectThat('local stack complete', false, `cannot run the demo without: ${blocking.join('; ') || 'the daemon'}`);
      return;
    }
    if (stack.s3) say(`sealed state: S3 stand-in ${stack.s3.url}, s3://${stack.s3.bucket}/${stack.s3.prefix}/ (versioned; the daemon holds the lease beside it), not the local disk`);
    const ready = await stack.waitReady(30_000);
    say(`enclave connected: state ${String((ready.enclave as Obj | null)?.state)}`);

    const handler = await setUpAndPair(stack);
    if (!handler) return;
    await runTransactions(stack, handler);
    await runEcdsaTransactions({ handler, say, step, expectThat, transfer: (label, input) => transfer(stack, label, input), vaultAddress: (asset, vault) => vaultAddress(stack, asset, vault) });
    await ownerApprovedHandlerChange(stack);

    step('9. cosigner status and the last log lines');
    const st = await cosigner(stack, ['status']);
    process.stdout.write(indent(st.stdout));
    const enclave = (((await cosigner(stack, ['status', '--json'])).json?.result ?? {}) as Obj).enclave as Obj | undefined;
    expectThat('status', enclave?.state === 'unsealed' && enclave?.coordinator === 'connected', `enclave ${String(enclave?.state)}, coordinator ${String(enclave?.coordinator)}, users ${String(enclave?.users)}`);
    const logs = await cosigner(stack, ['logs', '-n', '12']);
    process.stdout.write(indent(logs.stdout.slice(-6000)));
  } finally {
    step('10. shutdown');
    await stack.close();
    say('local stack stopped (state kept in .local/demo)');
  }
}

export async function main(): Promise<void> {
  try {
    await run();
  } catch (err) {
    expectThat('demo ran to the end', false, err instanceof Error ? err.message : String(err));
  }
  const bad = outcomes.filter((o) => !o.ok);
  process.stdout.write(`\n── summary (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  for (const o of outcomes) process.stdout.write(`  ${o.ok ? 'OK      ' : 'MISMATCH'} ${o.name}\n`);
  process.stdout.write(bad.length === 0 ? 'demo: every outcome matched the expectation\n' : `demo: ${bad.length} outcome(s) differ from the expectation\n`);
  process.exit(bad.length === 0 && outcomes.length > 0 ? 0 : 1);
}

