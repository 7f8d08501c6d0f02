// Local development host only. `make demo`: the whole co-signer on one machine, driven the way an
// operator drives it. Starts the local stack (local/stack.ts), then through the real `cosigner`
// CLI runs setup and add-user, has the workspace owner approve the new key share at the reference
// coordinator, and submits four transactions whose expected outcomes are known in advance:
//   1. approved and signed (Ed25519 and BIP-340 keys), signature checked with a standard verifier;
//   2. rejected by the Callback Handler (amount above its limit);
//   3. answered RETRY first, then approved and signed;
//   4. the handler never answers: no signature.
// Then `cosigner status`, the last log lines, shutdown. Exit 0 only if every outcome matched.
//
// Demo settings (said again in the output): Callback Handler calls time out after 2 s instead of 30 s,
// and the handler client's clock runs 100× faster, so the protocol's 30 s minimum RETRY interval
// takes 0.3 s. Everything else is the production code path.
import { createPublicKey, createHash, verify as nodeVerify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schnorr } from '@noble/curves/secp256k1.js';
import { startLocalStack, type LocalStack } from './stack.ts';

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
function expectThat(name: string, ok: boolean, detail: string): void {
  outcomes.push({ name, ok, detail });
  say(`${ok ? 'OK      ' : 'MISMATCH'} ${name}: ${detail}`);
}

/** The demo user and its handler's rules. */
const USER = 'demo-treasury';
const WORKSPACE = 'demo-workspace';
const HANDLER_RULES = { maxAmountPerAsset: { ETH: '10', BTC: '1' } };
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

/** Verify a final signature with a standard verifier: node:crypto Ed25519, noble's BIP-340 schnorr. */
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
  return false;
}

async function rest<T>(stack: LocalStack, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
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

function digestHex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function transaction(stack: LocalStack, label: string, input: Obj): Promise<Tx> {
  say(`${label}: POST /v1/transactions ${JSON.stringify({ asset: input.asset, amount: input.amount, destination: input.destination, scheme: input.scheme })}`);
  const t0 = Date.now();
  const tx = await rest<Tx>(stack, 'POST', '/v1/transactions', input);
  say(`${label}: status ${tx.status} after ${Date.now() - t0} ms${tx.error ? ` (${tx.error.code}: ${tx.error.message})` : ''}${tx.approval ? `, co-signer approval: ${tx.approval.decision}` : ''}`);
  return tx;
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

/** Step 7: the four transactions and their expected outcomes. */
async function runTransactions(stack: LocalStack, handler: DemoHandler): Promise<void> {
  step('7. transactions');
  const base = { userId: USER, destination: '0x5dC69B1Fbb13Bafd09af88a782F0F285772Ad5f8' };

  // 1. approved and signed, both schemes
  for (const scheme of ['frost-ed25519', 'frost-secp256k1-tr']) {
    const tx = await transaction(stack, `tx 1 (${scheme})`, { ...base, asset: 'ETH', amount: '1.5', scheme, payload: digestHex(`demo tx 1 ${scheme} ${Date.now()}`) });
    const good = verifyWithStandardVerifier(tx);
    expectThat(`1. approved and signed (${scheme})`, tx.status === 'signed' && good, tx.signature ? `signature ${tx.signature.slice(0, 32)}… verified with ${scheme === 'frost-ed25519' ? 'node:crypto Ed25519' : 'schnorr.verify (BIP-340)'}: ${good}` : `no signature (${tx.status})`);
  }

  // 2. rejected: above the handler's ETH limit
  const tx2 = await transaction(stack, 'tx 2', { ...base, asset: 'ETH', amount: '50', scheme: 'frost-ed25519', payload: digestHex(`demo tx 2 ${Date.now()}`) });
  const rejectCall = handler.calls.filter((c) => c.action === 'REJECT').length;
  expectThat('2. rejected by the handler', (tx2.status === 'rejected' || tx2.status === 'failed') && !tx2.signature && rejectCall > 0, `status ${tx2.status}, no signature; handler answered REJECT ${rejectCall}×`);

  // 3. RETRY first, then approved
  handler.rules = { ...HANDLER_RULES, retryFirstN: 1 };
  const retriesBefore = handler.calls.filter((c) => c.action === 'RETRY').length;
  const tx3 = await transaction(stack, 'tx 3', { ...base, asset: 'ETH', amount: '2', scheme: 'frost-secp256k1-tr', payload: digestHex(`demo tx 3 ${Date.now()}`) });
  const retries = handler.calls.filter((c) => c.action === 'RETRY').length - retriesBefore;
  handler.rules = { ...HANDLER_RULES };
  const good3 = verifyWithStandardVerifier(tx3);
  expectThat('3. retried, then approved and signed', tx3.status === 'signed' && good3 && retries > 0, `handler answered RETRY ${retries}× then APPROVE; signature verified: ${good3}`);

  // 4. the handler never answers
  handler.faults.neverAnswer = true;
  const callsBefore = handler.calls.length;
  const tx4 = await transaction(stack, 'tx 4', { ...base, asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: digestHex(`demo tx 4 ${Date.now()}`) });
  handler.faults.neverAnswer = false;
  expectThat('4. handler never answers: no signature', tx4.status !== 'signed' && !tx4.signature && handler.calls.length > callsBefore, `status ${tx4.status}${tx4.error ? ` (${tx4.error.code})` : ''}${tx4.approval ? `, co-signer approval ${tx4.approval.decision}` : ''}; handler received ${handler.calls.length - callsBefore} call(s) and never answered`);

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
  const base = { userId: USER, destination: '0x5dC69B1Fbb13Bafd09af88a782F0F285772Ad5f8', asset: 'ETH', amount: '1', scheme: 'frost-ed25519' };
  const prop = await cosigner(stack, ['callback-update', USER, '--json', '--callback-url', fresh.url, '--auth-mode', 'public-key', '--handler-public-key', pemFile]);
  const pending = ((prop.json?.result ?? {}) as Obj).pending as Obj | undefined;
  const changeId = String(pending?.changeId ?? '');
  expectThat('8a. handler change proposed, not applied', prop.code === 0 && changeId !== '', prop.code === 0 ? `change ${changeId} (digest ${String(pending?.digest ?? '').slice(0, 16)}…) waits for the owner` : `exit ${prop.code}: ${prop.stderr.trim() || prop.stdout.trim()}`);
  if (changeId === '') return;
  const listed = await cosigner(stack, ['changes']);
  process.stdout.write(listed.stdout.replace(/^/gm, '    '));
  const before = await transaction(stack, 'tx 5 (before the owner approves)', { ...base, payload: digestHex(`demo tx 5 ${Date.now()}`) });
  expectThat('8b. not signed while the change waits', before.status !== 'signed' && !before.signature, `status ${before.status}: the enclave still trusts only the old handler key`);
  say(`owner: POST /v1/changes/${changeId}/approve (the owner's key signs the change; the enclave verifies it)`);
  await rest(stack, 'POST', `/v1/changes/${changeId}/approve`, {});
  const after = await transaction(stack, 'tx 6 (after the owner approved)', { ...base, payload: digestHex(`demo tx 6 ${Date.now()}`) });
  const good = verifyWithStandardVerifier(after);
  expectThat('8c. owner-approved handler change applied: signed', after.status === 'signed' && good, `status ${after.status}; signature verified: ${good}`);
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
    const ready = await stack.waitReady(30_000);
    say(`enclave connected: state ${String((ready.enclave as Obj | null)?.state)}`);

    const handler = await setUpAndPair(stack);
    if (!handler) return;
    await runTransactions(stack, handler);
    await ownerApprovedHandlerChange(stack);

    step('9. cosigner status and the last log lines');
    const st = await cosigner(stack, ['status']);
    process.stdout.write(st.stdout.replace(/^/gm, '    '));
    const enclave = (((await cosigner(stack, ['status', '--json'])).json?.result ?? {}) as Obj).enclave as Obj | undefined;
    expectThat('status', enclave?.state === 'unsealed' && enclave?.coordinator === 'connected', `enclave ${String(enclave?.state)}, coordinator ${String(enclave?.coordinator)}, users ${String(enclave?.users)}`);
    const logs = await cosigner(stack, ['logs', '-n', '12']);
    process.stdout.write(logs.stdout.replace(/^/gm, '    ').slice(-6000));
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

