// Runs on the parent. The `cosigner` CLI (bin/cosigner.mjs): parses the command line, asks what is
// missing (only on a terminal), talks to cosigner-parent over its control socket, prints human text
// or `--json`, and exits with the documented codes (io.ts EXIT).
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { ControlClient } from '../control/client.ts';
import { parseCommand, parseSince, type ParsedCommand } from './args.ts';
import { commandHelp, mainHelp } from './help.ts';
import { backupsCommand } from './backups.ts';
import { callbackFromFlags } from './callback-settings.ts';
import { callbackUpdateCommand, changesCommand, removeUserCommand } from './changes.ts';
import { absolute, call, required, s, type Obj } from './common.ts';
import { EXIT, fail, ok, processIo, usage, withProgress, type CliIo } from './io.ts';
import { lifecycleCommand, statusCommand, unsealCommand } from './lifecycle.ts';
import { humanLogLine, renderUsers } from './render.ts';
import { checkCallbackEgress } from './egress.ts';
import { setupCommand } from './setup.ts';
import { Prompter } from './prompt.ts';
import { checkUpgradeAdmitted } from './upgrade.ts';
import { writeFileAtomic } from '../storage/write-file-atomic.ts';
import { parseIdentityUserData, type ParsedIdentity } from '../../proto/attestation/identity.ts';

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

/** Asks which user (interactive only), showing the list first. */
async function pickUser(p: ParsedCommand, io: CliIo, prompter: Prompter | null): Promise<string> {
  if (!prompter) throw usage(`${p.command} needs a USER_ID in non-interactive use`);
  const users = ((await call(p, 'listUsers')).users ?? []) as Obj[];
  io.stderr(renderUsers(users) + '\n');
  // Checked before any callback question, so a typo is not noticed after the operator typed the rest.
  const ids = new Set(users.map((u) => String(u.id)));
  for (let i = 0; i < 3; i++) {
    const userId = await prompter.ask('User id');
    if (ids.has(userId)) return userId;
    io.stderr(`  ${userId ? `no user ${userId}` : 'a user id is required'}${i < 2 ? '; try again' : ''}\n`);
  }
  throw usage('USER_ID: no such user (see `cosigner list-users`)');
}

/** `attestation`: a fresh attestation document, printed or written to --out. */
async function attestationCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const v = p.values;
  const nonce = v.nonce as string | undefined;
  if (nonce !== undefined && !/^([0-9a-fA-F]{2}){0,512}$/.test(nonce)) throw usage('--nonce must be hex, at most 512 bytes');
  if (v.out) {
    // Only into a directory that exists: a typo must not create a tree of folders anywhere (as root).
    const dir = dirname(absolute(io, v.out as string));
    const st = await stat(dir).catch(() => null);
    if (!st?.isDirectory()) throw usage(`--out: directory ${dir} does not exist; create it first`);
  }
  const r = await call(p, 'getAttestation', nonce ? { nonce } : {});
  const doc = Buffer.from(String(r.document ?? ''), 'base64');
  if (v.out) await writeFileAtomic(absolute(io, v.out as string), doc);
  return ok(io, p.json, 'attestation', { ...r, ...(v.out ? { out: v.out } : {}) }, () =>
    v.out
      ? `wrote ${doc.length}-byte attestation document (${s(r.attestationMode)}) to ${String(v.out)}; check it with: cosigner verify-attestation ${String(v.out)}${nonce ? ` --nonce ${nonce}` : ''}`
      : doc.toString('base64'),
  );
}

/** `upgrade`: check the key policy admits the new image, then have the daemon switch to it. */
async function upgradeCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const v = p.values;
  // Relative paths are the operator's, in the CLI's working directory: the daemon's is / under systemd.
  const eifPath = absolute(io, await required(p, null, 'eif', 'new EIF'));
  const measurementsPath = absolute(io, await required(p, null, 'measurements', 'measurements'));
  const instanceRoleArn = (v['instance-role'] as string | undefined) ?? io.env.COSIGNER_INSTANCE_ROLE;
  if (!instanceRoleArn) throw usage('--instance-role ARN (or COSIGNER_INSTANCE_ROLE) is required: the role whose access the key policy must keep');
  const timeoutMs = v.timeout ? Number(v.timeout) * 1000 : 180_000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > 3_600_000) throw usage('--timeout is in seconds, 1 to 3600');
  if (!p.json) io.stderr('upgrade: checking that the KMS key policy admits the new measurements…\n');
  const m = await checkUpgradeAdmitted({
    measurementsPath,
    instanceRoleArn,
    ...(v.policy ? { policyPath: absolute(io, v.policy as string) } : {}),
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
    case 'status':
      return statusCommand(p, io);
    case 'unseal':
      return unsealCommand(p, io);
    case 'start':
    case 'stop':
    case 'restart':
      return lifecycleCommand(p, io, p.command);
    case 'setup':
      return setupCommand(p, io, prompter);
    case 'add-user': {
      const pairingToken = await required(p, prompter, 'pairing-token', 'Pairing token');
      const callback = await callbackFromFlags(v, io, prompter, { checkUrl: (url) => checkCallbackEgress(p, url) });
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
    case 'refresh-key': {
      const [userId, keyId] = p.positionals as [string, string];
      const r = await withProgress(io, p.json, 'refresh-key: key refresh with the coordinator', call(p, 'refreshKey', { userId, keyId }, 300_000));
      const k = (r.key ?? {}) as Obj;
      return ok(io, p.json, 'refresh-key', r, () => `refreshed ${s(k.scheme)} key ${s(k.keyId)} of API user ${s(r.userId)}: same public key ${s(k.groupPublicKey)}, new shares sealed (refresh ${s(r.refreshId)})`);
    }
    case 'callback-update':
      return callbackUpdateCommand(p, io, prompter, () => pickUser(p, io, prompter));
    case 'changes':
      return changesCommand(p, io);
    case 'print-public-key':
      return printPublicKeyCommand(p, io);
    case 'backups':
      return backupsCommand(p, io);
    case 'attestation':
      return attestationCommand(p, io);
    case 'logs':
      return logsCommand(p, io);
    case 'upgrade':
      return upgradeCommand(p, io);
  }
}

/**
 * `print-public-key`: the callback signing key and, from a fresh attestation's user_data, the whole
 * identity the enclave binds — the file `verify-attestation --identity` checks documents against.
 */
async function printPublicKeyCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const r = await call(p, 'printPublicKey');
  let identity: ParsedIdentity | null = null;
  try {
    identity = parseIdentityUserData(new Uint8Array(Buffer.from(String((await call(p, 'getAttestation')).userData ?? ''), 'base64')));
  } catch (err) {
    if (!p.json) io.stderr(`print-public-key: no identity from an attestation (${toCosignerError(err).code}); only the key is shown\n`);
  }
  const out = { ...r, identity };
  return ok(io, p.json, 'print-public-key', out, () =>
    [`${String(r.publicKeyPem ?? '').trim()}`, `# SPKI SHA-256: ${s(r.spkiSha256)}`, ...(identity ? [`# cosigner id: ${identity.cosignerId}`, `# coordinator auth key SHA-256: ${identity.coordinatorAuthKeySha256}`] : [])].join('\n'),
  );
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
    io.stdout(
      [
        'usage: cosigner key-policy MEASUREMENTS.json --instance-role ARN --admin ARN [--pcr8 HEX] [--also NEW.json]... [--out FILE]',
        '',
        '  build the PCR-bound KMS key policy from measurements (docs/key-policy.md); the instance role may',
        '  decrypt only from the measured images, and read the policy (kms:GetKeyPolicy) for `upgrade`\'s check',
        '',
        'flags:',
        '  --instance-role ARN   the parent instance role',
        '  --admin ARN           the key administrator (manages the key, never decrypts)',
        '  --pcr8 HEX            also pin the signing certificate (PCR8)',
        '  --also FILE           admit another image\'s measurements too (an upgrade); repeatable',
        '  --out FILE            write the policy here instead of stdout',
        '  --json                the policy inside the standard JSON envelope',
        '',
        'example:',
        '  cosigner key-policy build/measurements.json --instance-role arn:aws:iam::111122223333:role/cosigner-parent --admin arn:aws:iam::111122223333:role/admin --out policy.json',
        '',
      ].join('\n'),
    );
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

