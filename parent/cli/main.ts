// Runs on the parent. The `cosigner` CLI (bin/cosigner.mjs): parses the command line, asks what is
// missing (only on a terminal), talks to cosigner-parent over its control socket, prints human text
// or `--json`, and exits with the documented codes (io.ts EXIT).
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CosignerError, isErrorCode as isCode, toCosignerError } from '../../proto/errors.ts';
import { ControlClient, callDaemon } from '../control/client.ts';
import type { ControlArgs, ControlMethod, ControlParams } from '../control/method-types.ts';
import { commandHelp, mainHelp, parseCommand, parseSince, type ParsedCommand } from './args.ts';
import { callbackFromFlags } from './callback-settings.ts';
import { callbackUpdateCommand, changesCommand, removeUserCommand } from './changes.ts';
import { EXIT, fail, ok, processIo, usage, withProgress, type CliIo } from './io.ts';
import { Prompter } from './prompt.ts';
import { checkUpgradeAdmitted } from './upgrade.ts';
import { writeFileAtomic } from '../storage/write-file-atomic.ts';

type Obj = Record<string, unknown>;
const s = (v: unknown): string => (v === undefined || v === null || v === '' ? '-' : String(v));

/** Entry point; returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.stdout(mainHelp());
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (command === 'verify-attestation') return delegateVerify(rest, io);
  if (command === 'key-policy') return delegateKeyPolicy(rest, io);

  const json = argv.includes('--json');
  let p: ParsedCommand;
  try {
    p = parseCommand(command, rest, io.env);
  } catch (err) {
    return fail(io, json, command.slice(0, 40), err);
  }
  if (p.help) {
    io.stdout(commandHelp(p.command));
    return EXIT.OK;
  }
  const prompter = io.interactive && !p.yes ? new Prompter(io) : null;
  try {
    return await run(p, io, prompter);
  } catch (err) {
    return fail(io, p.json, p.command, err);
  } finally {
    prompter?.close();
  }
}

// The CLI reads every result as a loose object and renders what it finds (see render*), so it asks
// only for the params to be checked here.
async function call<M extends ControlMethod>(p: ParsedCommand, method: M, ...args: ControlArgs<M>): Promise<Obj> {
  return (await callDaemon(p.socket, method, ...args)) as Obj;
}

/** A required value: from its flag, else a prompt, else (non-interactive) ERR_USAGE. */
async function required(p: ParsedCommand, prompter: Prompter | null, flag: string, question: string): Promise<string> {
  const v = p.values[flag];
  if (typeof v === 'string' && v !== '') return v;
  if (!prompter) throw usage(`--${flag} is required in non-interactive use (stdin is not a terminal or --yes was given)`);
  const a = await prompter.ask(question);
  if (a === '') throw usage(`${question} is required`);
  return a;
}

/** `start`, `stop`, `restart`: ask the daemon, then (except stop) wait until the enclave has booted. */
async function lifecycleCommand(p: ParsedCommand, io: CliIo, command: 'start' | 'stop' | 'restart'): Promise<number> {
  const v = p.values;
  const timeoutMs = v.timeout ? Number(v.timeout) * 1000 : 120_000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > 3_600_000) throw usage('--timeout is in seconds, 1 to 3600');
  const r = await withProgress(io, p.json, `${command}: waiting for the enclave`, call(p, command, {}, 300_000));
  if (command === 'stop' || v['no-wait']) return ok(io, p.json, command, r, () => `enclave ${s(r.state)}${r.enclaveId ? ` (${s(r.enclaveId)})` : ''}`);
  const settled = await waitBooted(p, io, timeoutMs);
  const state = String((settled.enclave as Obj | null)?.state ?? 'unknown');
  if (state === 'access-denied' || state === 'error') {
    const e = settled.enclave as Obj;
    throw new CosignerError(isCode(e.errorCode) ? e.errorCode : 'ERR_SEALED', `the enclave started but did not unseal: ${state}${e.errorMessage ? ` (${s(e.errorMessage)})` : ''}`);
  }
  return ok(io, p.json, command, settled, () => renderStatus(settled));
}

/** `setup`: flags or prompts for the KMS key, the coordinator and the first user. */
async function setupCommand(p: ParsedCommand, io: CliIo, prompter: Prompter | null): Promise<number> {
  const v = p.values;
  const kmsKeyArn = await required(p, prompter, 'kms-key-arn', 'KMS key ARN');
  const region = await required(p, prompter, 'region', 'AWS region');
  // The owner's key decides every later change to this co-signer: it comes from the owner, as a file.
  const ownerKeyFile = await required(p, prompter, 'owner-public-key', 'File with the workspace owner\'s Ed25519 public key (PEM)');
  const ownerPublicKeyPem = await readSmall(ownerKeyFile);
  let pairingToken = v['pairing-token'] as string | undefined;
  if (pairingToken === undefined && prompter) pairingToken = await prompter.ask('Pairing token for the first API user (empty: pair later with add-user)');
  const callback = await callbackFromFlags(v, io, prompter);
  const coordinatorPublicKeyPem = v['coordinator-public-key'] ? await readSmall(v['coordinator-public-key'] as string) : undefined;
  const params: ControlParams<'setup'> = {
    kmsKeyArn,
    region,
    ...(pairingToken ? { pairingToken } : {}),
    ...(v['kms-endpoint'] ? { kmsEndpoint: v['kms-endpoint'] as string } : {}),
    ...(v['coordinator-url'] ? { coordinatorUrl: v['coordinator-url'] as string } : {}),
    ...(coordinatorPublicKeyPem ? { coordinatorPublicKeyPem } : {}),
    ownerPublicKeyPem,
    ...(callback ? { callback } : {}),
  };
  if (!p.json) io.stderr('setup: creating secrets.key with KMS inside the enclave and sealing the secrets DB…\n');
  const r = await withProgress(io, p.json, 'setup: working (KMS, sealing' + (pairingToken ? ', key generation with the coordinator' : '') + ')', call(p, 'setup', params, 300_000));
  return ok(io, p.json, 'setup', r, () => {
    const user = r.user as Obj | null | undefined;
    return [
      `co-signer ${s(r.cosignerId)} is set up.`,
      user ? `paired API user ${s(user.id)} (${s(user.status)})` : 'no API user paired yet: run `cosigner add-user`',
      'Callback Handler requests will be signed with this key (give it to the handler\'s operator):',
      String(r.callbackPublicKeyPem ?? '').trim(),
    ].join('\n');
  });
}

/** Asks which user (interactive only), showing the list first. */
async function pickUser(p: ParsedCommand, io: CliIo, prompter: Prompter | null): Promise<string> {
  if (!prompter) throw usage(`${p.command} needs a USER_ID in non-interactive use`);
  const users = ((await call(p, 'listUsers')).users ?? []) as Obj[];
  io.stderr(renderUsers(users) + '\n');
  const userId = await prompter.ask('User id');
  if (!userId) throw usage('a user id is required');
  return userId;
}

/** `attestation`: a fresh attestation document, printed or written to --out. */
async function attestationCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const v = p.values;
  const nonce = v.nonce as string | undefined;
  if (nonce !== undefined && !/^([0-9a-fA-F]{2}){0,512}$/.test(nonce)) throw usage('--nonce must be hex, at most 512 bytes');
  if (v.out) {
    // Only into a directory that exists: a typo must not create a tree of folders anywhere (as root).
    const dir = dirname(resolve(v.out as string));
    const st = await stat(dir).catch(() => null);
    if (!st?.isDirectory()) throw usage(`--out: directory ${dir} does not exist; create it first`);
  }
  const r = await call(p, 'getAttestation', nonce ? { nonce } : {});
  const doc = Buffer.from(String(r.document ?? ''), 'base64');
  if (v.out) await writeFileAtomic(v.out as string, doc);
  return ok(io, p.json, 'attestation', { ...r, ...(v.out ? { out: v.out } : {}) }, () =>
    v.out
      ? `wrote ${doc.length}-byte attestation document (${s(r.attestationMode)}) to ${String(v.out)}; check it with: cosigner verify-attestation ${String(v.out)}${nonce ? ` --nonce ${nonce}` : ''}`
      : doc.toString('base64'),
  );
}

/** `upgrade`: check the key policy admits the new image, then have the daemon switch to it. */
async function upgradeCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const v = p.values;
  const eifPath = await required(p, null, 'eif', 'new EIF');
  const measurementsPath = await required(p, null, 'measurements', 'measurements');
  const instanceRoleArn = (v['instance-role'] as string | undefined) ?? io.env.COSIGNER_INSTANCE_ROLE;
  if (!instanceRoleArn) throw usage('--instance-role ARN (or COSIGNER_INSTANCE_ROLE) is required: the role whose access the key policy must keep');
  const timeoutMs = v.timeout ? Number(v.timeout) * 1000 : 180_000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > 3_600_000) throw usage('--timeout is in seconds, 1 to 3600');
  if (!p.json) io.stderr('upgrade: checking that the KMS key policy admits the new measurements…\n');
  const m = await checkUpgradeAdmitted({
    measurementsPath,
    instanceRoleArn,
    ...(v.policy ? { policyPath: v.policy as string } : {}),
    ...(v['kms-key-arn'] ? { kmsKeyArn: v['kms-key-arn'] as string } : {}),
    ...(v.region ? { region: v.region as string } : {}),
    ...(v['kms-endpoint'] ? { kmsEndpoint: v['kms-endpoint'] as string } : {}),
  });
  if (!p.json) io.stderr(`upgrade: policy admits PCR0 ${m.PCR0.slice(0, 16)}…; switching the enclave (it will unseal with the new image)…\n`);
  const r = await withProgress(
    io,
    p.json,
    'upgrade: waiting for the new enclave to unseal',
    call(p, 'upgrade', { eifPath, measurementsPath, policyChecked: true, timeoutMs }, timeoutMs * 2 + 30_000),
  );
  return ok(io, p.json, 'upgrade', r, () => `upgraded: now running ${s(r.current)} (${s(r.state)}); previous image kept at ${s(r.previous)}`);
}

async function run(p: ParsedCommand, io: CliIo, prompter: Prompter | null): Promise<number> {
  const v = p.values;
  switch (p.command) {
    case 'status': {
      const r = await call(p, 'status');
      return ok(io, p.json, 'status', r, () => renderStatus(r));
    }
    case 'unseal': {
      const gen = v['allow-rollback-to'] as string | undefined;
      if (gen !== undefined && !/^\d{1,20}$/.test(gen)) throw usage('--allow-rollback-to takes a generation number (see the backups in COSIGNER_HOME/backup)');
      const r = await withProgress(io, p.json, 'unseal: KMS and the secrets DB', call(p, 'unseal', gen ? { allowRollbackTo: gen } : {}, 300_000));
      return ok(io, p.json, 'unseal', r, () => `secrets ${s(r.state)}${r.errorCode ? ` (${s(r.errorCode)}: ${s(r.errorMessage)})` : ''}`);
    }
    case 'start':
    case 'stop':
    case 'restart':
      return lifecycleCommand(p, io, p.command);
    case 'setup':
      return setupCommand(p, io, prompter);
    case 'add-user': {
      const pairingToken = await required(p, prompter, 'pairing-token', 'Pairing token');
      const callback = await callbackFromFlags(v, io, prompter);
      const r = await withProgress(io, p.json, 'add-user: key generation with the coordinator', call(p, 'addUser', { pairingToken, ...(callback ? { callback } : {}) }, 300_000));
      const u = (r.user ?? {}) as Obj;
      return ok(io, p.json, 'add-user', r, () => `paired API user ${s(u.id)} in workspace ${s(u.workspace)}: ${s(u.status)}${u.status === 'pending' ? ' (waiting for the workspace owner\'s approval at the coordinator)' : ''}`);
    }
    case 'list-users': {
      const r = await call(p, 'listUsers');
      return ok(io, p.json, 'list-users', r, () => renderUsers((r.users ?? []) as Obj[]));
    }
    case 'remove-user':
      return removeUserCommand(p, io);
    case 'callback-update':
      return callbackUpdateCommand(p, io, prompter, () => pickUser(p, io, prompter));
    case 'changes':
      return changesCommand(p, io);
    case 'print-public-key': {
      const r = await call(p, 'printPublicKey');
      return ok(io, p.json, 'print-public-key', r, () => `${String(r.publicKeyPem ?? '').trim()}\n# SPKI SHA-256: ${s(r.spkiSha256)}`);
    }
    case 'attestation':
      return attestationCommand(p, io);
    case 'logs':
      return logsCommand(p, io);
    case 'upgrade':
      return upgradeCommand(p, io);
  }
}

/** Enclave states after which nothing changes on its own. */
const SETTLED = new Set(['unsealed', 'not-set-up', 'access-denied', 'error']);

/** Poll `status` until the enclave is connected and settled, printing each new state (boot, unseal). */
async function waitBooted(p: ParsedCommand, io: CliIo, timeoutMs: number): Promise<Obj> {
  const end = Date.now() + timeoutMs;
  let last = '';
  let st: Obj = {};
  while (Date.now() < end) {
    st = await call(p, 'status');
    const sup = (st.supervisor ?? {}) as Obj;
    const e = st.enclave as Obj | null;
    const now = e ? `enclave ${String(e.state)}` : `enclave ${String(sup.state)}, wire ${((st.wire ?? {}) as Obj).connected ? 'connected' : 'connecting'}`;
    if (now !== last && !p.json) io.stderr(`… ${now}\n`);
    last = now;
    if (e && SETTLED.has(String(e.state))) return st;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new CosignerError('ERR_TIMEOUT', `the enclave did not finish booting and unsealing within ${Math.round(timeoutMs / 1000)} s (last: ${last})`);
}

async function logsCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const v = p.values;
  const n = v.n === undefined ? 50 : Number(v.n);
  if (!Number.isSafeInteger(n) || n < 0 || n > 10_000) throw usage('-n must be an integer from 0 to 10000');
  const sinceMs = v.since ? parseSince(v.since as string) : undefined;
  const c = await ControlClient.connect(p.socket);
  try {
    const r = await (c.request('logs', { n, ...(sinceMs !== undefined ? { sinceMs } : {}) }) as Promise<{ lines: string[]; next: number }>);
    const print = (lines: string[]): void => {
      for (const l of lines) io.stdout((p.json ? l : humanLogLine(l)) + '\n');
    };
    print(r.lines);
    if (!v.follow) return EXIT.OK;
    let next = r.next;
    // Follow until the connection drops or the process is interrupted; bounded polling.
    for (;;) {
      await new Promise((res) => setTimeout(res, 500));
      const more = await (c.request('logs', { from: next }) as Promise<{ lines: string[]; next: number }>);
      print(more.lines);
      next = more.next;
    }
  } finally {
    c.close();
  }
}

function humanLogLine(line: string): string {
  try {
    const r = JSON.parse(line) as Obj;
    const lvl = ({ 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' } as Record<number, string>)[r.level as number] ?? s(r.level);
    const t = typeof r.time === 'number' ? new Date(r.time).toISOString() : '-';
    const { level: _l, time: _t, msg, src, pid: _p, hostname: _h, side: _s, buildId: _b, ...restFields } = r;
    const extra = Object.keys(restFields).length ? ' ' + JSON.stringify(restFields) : '';
    return `${t} ${lvl.padEnd(5)} ${s(src).padEnd(8)} ${s(msg)}${extra}`;
  } catch {
    return line;
  }
}

/** What `status` says about the KMS key policy the enclave checked (docs/key-policy.md). */
function kmsPolicyLine(e: Obj): string {
  if (e.kmsPolicy !== 'changeable') return 'admitted; nobody may change it';
  // Principal strings come from the policy: strip control characters before they reach a terminal.
  const editors = ((e.kmsPolicyEditors ?? []) as unknown[]).map((x) => s(x).replace(/[\x00-\x1f\x7f]/g, '?'));
  return `admitted; may still be changed (PutKeyPolicy/CreateGrant) by ${editors.length ? editors.join(', ') : 'some principal'}`;
}

function renderStatus(r: Obj): string {
  const d = (r.daemon ?? {}) as Obj;
  const sup = (r.supervisor ?? {}) as Obj;
  const w = (r.wire ?? {}) as Obj;
  const e = r.enclave as Obj | null;
  const lines = [
    `daemon     cosigner-parent ${s(d.version)} (${s(d.mode)} mode), home ${s(d.home)}, queue ${s(d.queueDepth)}/${s(d.queueLimit)}`,
    `enclave    ${s(sup.state)}${sup.enclaveId ? ` ${s(sup.enclaveId)}` : ''} since ${s(sup.since)}, image ${s(sup.image)}, restarts ${s(sup.restarts)}`,
  ];
  const le = sup.lastError as Obj | null;
  if (le) lines.push(`           last error ${s(le.code)}: ${s(le.message)}`);
  if (sup.nextRestartInMs !== null && sup.nextRestartInMs !== undefined) lines.push(`           next restart in ${Math.ceil(Number(sup.nextRestartInMs) / 1000)} s`);
  lines.push(`wire       ${w.connected ? 'connected' : 'disconnected'}${w.remoteBuildId ? ` (build ${s(w.remoteBuildId)})` : ''}`);
  if (e) {
    lines.push(`secrets    ${s(e.state)}${e.errorCode ? ` (${s(e.errorCode)}: ${s(e.errorMessage)})` : ''}, attestation ${s(e.attestationMode)}${e.localMode ? ', LOCAL MODE' : ''}`);
    if (e.nextUnsealAttemptAt) lines.push(`           unseal attempt ${Number(e.unsealAttempts ?? 0) + 1} at ${s(e.nextUnsealAttemptAt)} (retrying by itself; \`cosigner unseal\` tries now)`);
    lines.push(`users      ${s(e.users)} (${s(e.pendingUsers)} pending), coordinator ${s(e.coordinator)}, open sessions ${s(e.openSessions)}`);
    if (e.ownerKeyFingerprint) lines.push(`owner key  sha256 ${s(e.ownerKeyFingerprint)}`);
    if (e.pendingChanges) lines.push(`changes    ${s(e.pendingChanges)} waiting for the workspace owner (cosigner changes)`);
    if (e.kmsPolicy) lines.push(`key policy ${kmsPolicyLine(e)}`);
    for (const n of (e.notes ?? []) as string[]) lines.push(`note       ${n}`);
  } else {
    lines.push('secrets    unknown (enclave not connected)');
  }
  return lines.join('\n');
}

function renderUsers(users: Obj[]): string {
  if (users.length === 0) return 'no API users (pair one with `cosigner add-user`)';
  const rows = users.map((u) => [s(u.id), s(u.workspace), s(u.status), s(u.authMode), s(u.handlerUrl), String(((u.keys ?? []) as Obj[]).length)]);
  const head = ['ID', 'WORKSPACE', 'STATUS', 'AUTH', 'HANDLER', 'KEYS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

async function readSmall(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    const t = await readFile(path, 'utf8');
    if (t.length > 16 * 1024) throw usage(`${path} is larger than 16 KiB`);
    return t;
  } catch (err) {
    if (err instanceof CosignerError) throw err;
    throw usage(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

async function delegateVerify(argv: string[], io: CliIo): Promise<number> {
  let mod: { verifyAttestationCommand?: (a: string[], io: { stdin: NodeJS.ReadableStream; stdout: (s: string) => void; stderr: (s: string) => void }) => Promise<number> };
  try {
    mod = (await import(new URL('./verify-attestation.ts', import.meta.url).href)) as typeof mod;
  } catch (err) {
    return fail(io, argv.includes('--json'), 'verify-attestation', new CosignerError('ERR_NOT_IMPLEMENTED', `verify-attestation is not available in this build: ${toCosignerError(err).message}`));
  }
  if (!mod.verifyAttestationCommand) return fail(io, argv.includes('--json'), 'verify-attestation', new CosignerError('ERR_NOT_IMPLEMENTED', 'verify-attestation is not available in this build'));
  return mod.verifyAttestationCommand(argv, { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr });
}

async function delegateKeyPolicy(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout('usage: cosigner key-policy MEASUREMENTS.json --instance-role ARN --admin ARN [--pcr8 HEX] [--also NEW.json]... [--out FILE]\n');
    return EXIT.OK;
  }
  try {
    const { keyPolicyCli } = await import('./key-policy.ts');
    const text = await keyPolicyCli(args);
    const out = args.includes('--out');
    if (json) io.stdout(JSON.stringify({ ok: true, command: 'key-policy', result: JSON.parse(text) }) + '\n');
    else if (!out) io.stdout(text);
    return EXIT.OK;
  } catch (err) {
    return fail(io, json, 'key-policy', err);
  }
}

