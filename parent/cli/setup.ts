// Runs on the parent (the `cosigner` CLI). `cosigner setup`: every value the enclave needs, each
// checked as soon as it is given — a flag at once, a typed answer before the next question, asked
// again on error (at most ATTEMPTS times). The pairing token is verified against the coordinator key
// (format, signature, key id, expiry) before anything is sealed, so a garbage token never leaves a
// set-up co-signer without its first user. The enclave checks everything again: it trusts no parent.
import { createPublicKey } from 'node:crypto';
import { toCosignerError, type CosignerError } from '../../proto/errors.ts';
import { verifyPairingToken } from '../../proto/coordinator/pairing-token.ts';
import type { ControlParams } from '../control/method-types.ts';
import type { ParsedCommand } from './args.ts';
import { callbackFromFlags } from './callback-settings.ts';
import { absolute, call, readSmall, s, type Obj } from './common.ts';
import { checkCallbackEgress, checkEgress } from './egress.ts';
import { ok, usage, withProgress, type CliIo } from './io.ts';
import type { Prompter } from './prompt.ts';

/** Answers tried per question before setup gives up. */
export const ATTEMPTS = 3;
const ARN_RE = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/;
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** One value: from its flag (checked once), else asked until `check` accepts it. */
async function value<T>(p: ParsedCommand, io: CliIo, prompter: Prompter | null, flag: string, question: string, check: (answer: string) => Promise<T> | T, def = ''): Promise<T> {
  const given = p.values[flag];
  const named = (err: unknown): CosignerError => {
    const e = toCosignerError(err);
    return e.code === 'ERR_USAGE' && !e.message.startsWith('--') ? usage(`--${flag}: ${e.message}`) : e;
  };
  if (typeof given === 'string') {
    try {
      return await check(given);
    } catch (err) {
      throw named(err);
    }
  }
  if (!prompter) throw usage(`--${flag} is required in non-interactive use (stdin is not a terminal or --yes was given)`);
  let last: CosignerError | undefined;
  for (let i = 0; i < ATTEMPTS; i++) {
    const answer = await prompter.askPemOrLine(question, def);
    try {
      return await check(answer);
    } catch (err) {
      last = named(err);
      io.stderr(`  ${last.message}${i + 1 < ATTEMPTS ? '; try again' : ''}\n`);
    }
  }
  throw last ?? usage(`--${flag} is required`);
}

/** A PEM given inline (pasted) or as a file path (relative to the CLI's working directory). */
async function pemOrFile(io: CliIo, answer: string, flag: string): Promise<string> {
  if (answer === '') throw usage('a PEM public key or a file holding one is required');
  return answer.trimStart().startsWith('-----BEGIN') ? answer : readSmall(absolute(io, answer), `--${flag}`);
}

function publicKey(pem: string, ed25519: boolean): string {
  let type: string | undefined;
  try {
    const k = createPublicKey(pem);
    if (k.type !== 'public') throw new Error('not a public key');
    type = k.asymmetricKeyType;
  } catch {
    throw usage('is not a PEM public key');
  }
  if (ed25519 && type !== 'ed25519') throw usage(`must be an Ed25519 public key, not ${type ?? 'unknown'}`);
  return pem;
}

/** `host:port` or `https://host:port`, as the enclave accepts it. */
export function coordinatorHostPort(answer: string): { host: string; port: number } {
  const t = answer.startsWith('https://') ? answer.slice('https://'.length).replace(/\/$/, '') : answer;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(t);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw usage('must be host:port (for example coordinator.example.com:443)');
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** `setup`: flags or prompts for the KMS key, the coordinator, the owner and the first user. */
export async function setupCommand(p: ParsedCommand, io: CliIo, prompter: Prompter | null): Promise<number> {
  const v = p.values;
  const kmsKeyArn = await value(p, io, prompter, 'kms-key-arn', 'KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)', (a) => {
    if (!ARN_RE.test(a)) throw usage('must look like arn:aws:kms:REGION:ACCOUNT:key/ID');
    return a;
  });
  const arnRegion = ARN_RE.exec(kmsKeyArn)?.[1] ?? '';
  const region = await value(p, io, prompter, 'region', 'AWS region', (a) => {
    if (!REGION_RE.test(a)) throw usage('must be an AWS region such as us-east-1');
    if (a !== arnRegion) throw usage(`is ${a} but the key ARN is in ${arnRegion}`);
    return a;
  }, arnRegion);
  const coordinatorUrl = await value(p, io, prompter, 'coordinator-url', 'Coordinator address (host:port)', (a) => (coordinatorHostPort(a), a));
  const coordinatorPublicKeyPem = await value(p, io, prompter, 'coordinator-public-key', 'Coordinator public key (paste the PEM, or a file)', async (a) =>
    publicKey(await pemOrFile(io, a, 'coordinator-public-key'), false),
  );
  // The owner's key decides every later change to this co-signer: it comes from the owner.
  const ownerPublicKeyPem = await value(p, io, prompter, 'owner-public-key', 'Workspace owner\'s Ed25519 public key (paste the PEM, or a file)', async (a) =>
    publicKey(await pemOrFile(io, a, 'owner-public-key'), true),
  );
  const coordinatorKey = createPublicKey(coordinatorPublicKeyPem);
  const pairingToken = await value(p, io, prompter, 'pairing-token', 'Pairing token for the first API user (empty: pair later with add-user)', (a) => {
    if (a === '') return '';
    // Signature, key id and expiry now; single use is the enclave's to check.
    verifyPairingToken(a, { coordinatorKey, now: Date.now(), isUsed: () => false });
    return a;
  }).catch((err: unknown) => {
    // Not given and not asked (non-interactive): pairing later is fine.
    if (!prompter && v['pairing-token'] === undefined) return '';
    throw err;
  });
  await warnCoordinatorEgress(p, io, coordinatorUrl);
  const hasCallbackFlags = ['callback-url', 'handler-public-key', 'handler-certificate', 'root-ca', 'fetch-certificate'].some((f) => v[f] !== undefined);
  if (hasCallbackFlags && !pairingToken) throw usage('--callback-url and its key flags belong to the first user: give --pairing-token too');
  const callback = pairingToken ? await callbackFromFlags(v, io, prompter, { checkUrl: (url) => checkCallbackEgress(p, url) }) : undefined;
  const params: ControlParams<'setup'> = {
    kmsKeyArn,
    region,
    coordinatorUrl,
    coordinatorPublicKeyPem,
    ownerPublicKeyPem,
    ...(pairingToken ? { pairingToken } : {}),
    ...(v['kms-endpoint'] ? { kmsEndpoint: v['kms-endpoint'] as string } : {}),
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

/**
 * The coordinator may be reached through a link other than its own address (the local stack does),
 * so a coordinator missing from the allow-list is a warning, not a refusal.
 */
async function warnCoordinatorEgress(p: ParsedCommand, io: CliIo, url: string): Promise<void> {
  const { host, port } = coordinatorHostPort(url);
  try {
    await checkEgress(p, 'the coordinator', host, port);
  } catch (err) {
    const e = toCosignerError(err);
    if (e.code !== 'ERR_EGRESS_DENIED') throw e;
    io.stderr(`setup: warning: ${e.message.replace(/; nothing was changed$/, '')}\n  to allow it: ${String(e.details?.next ?? '')}\n`);
  }
}
