// Runs on the parent (the `cosigner` CLI). Command-line parsing: node:util parseArgs in strict mode
// per command, so an unknown or misspelled flag is a usage error (exit 2), never ignored.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_CONTROL_SOCKET } from '../config/config.ts';
import { usage } from './io.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags every command accepts. */
export const GLOBAL_OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

const CALLBACK_OPTIONS = {
  'callback-url': { type: 'string' },
  'auth-mode': { type: 'string' },
  'handler-public-key': { type: 'string' },
  'handler-certificate': { type: 'string' },
  'root-ca': { type: 'string' },
  'fetch-certificate': { type: 'boolean' },
  'certificate-fingerprint': { type: 'string' },
} as const satisfies Options;

/** Flags and positional arity of each command. */
export const COMMANDS = {
  setup: {
    summary: 'create the co-signer\'s secrets (KMS) and identity; optionally pair the first API user',
    options: {
      'kms-key-arn': { type: 'string' },
      region: { type: 'string' },
      'pairing-token': { type: 'string' },
      'kms-endpoint': { type: 'string' },
      'coordinator-url': { type: 'string' },
      'coordinator-public-key': { type: 'string' },
      'owner-public-key': { type: 'string' },
      ...CALLBACK_OPTIONS,
    },
    positionals: [0, 0],
  },
  start: { summary: 'start the enclave and wait until the co-signer can sign', options: { 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } }, positionals: [0, 0] },
  stop: { summary: 'stop the enclave (the daemon keeps running)', options: {}, positionals: [0, 0] },
  restart: { summary: 'stop and start the enclave, then wait until the co-signer can sign', options: { 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } }, positionals: [0, 0] },
  status: { summary: 'daemon, enclave and sealing state; exits 0 only when the co-signer can sign', options: {}, positionals: [0, 0] },
  unseal: { summary: 'retry unsealing (after fixing access) and wait until the co-signer can sign', options: { 'allow-rollback-to': { type: 'string' }, timeout: { type: 'string' } }, positionals: [0, 0] },
  'add-user': { summary: 'pair an API user from a coordinator pairing token', options: { 'pairing-token': { type: 'string' }, ...CALLBACK_OPTIONS }, positionals: [0, 0] },
  'list-users': { summary: 'list paired API users with their handler key fingerprints (no secrets)', options: {}, positionals: [0, 0] },
  'remove-user': { summary: 'propose removing an API user (the workspace owner approves at the coordinator)', options: {}, positionals: [1, 1] },
  'refresh-key': { summary: 'new shares of a threshold ECDSA key with the coordinator (same key and addresses); clears a "refresh required" mark', options: {}, positionals: [2, 2] },
  'callback-update': {
    summary: 'propose new Callback Handler settings (owner approval), or rotate the handler key with --rotation-signature',
    // --confirm is accepted and ignored: consent comes from the owner, never from the parent.
    options: { confirm: { type: 'boolean' }, 'rotation-signature': { type: 'string' }, ...CALLBACK_OPTIONS },
    positionals: [0, 1],
  },
  changes: { summary: 'changes proposed and waiting for the workspace owner', options: {}, positionals: [0, 0] },
  backups: { summary: 'list the sealed blobs\' generations on disk, or restore the newest one', options: { blob: { type: 'string' } }, positionals: [1, 2] },
  'print-public-key': { summary: 'the key that signs Callback Handler requests, and the identity the enclave attests', options: {}, positionals: [0, 0] },
  logs: { summary: 'recent log records', options: { follow: { type: 'boolean', short: 'f' }, n: { type: 'string', short: 'n' }, since: { type: 'string' } }, positionals: [0, 0] },
  attestation: { summary: 'fetch an attestation document from the enclave', options: { nonce: { type: 'string' }, out: { type: 'string' } }, positionals: [0, 0] },
  upgrade: {
    summary: 'switch to a new enclave image after checking the KMS key policy admits it',
    options: {
      eif: { type: 'string' },
      measurements: { type: 'string' },
      'instance-role': { type: 'string' },
      policy: { type: 'string' },
      'kms-key-arn': { type: 'string' },
      region: { type: 'string' },
      'kms-endpoint': { type: 'string' },
      timeout: { type: 'string' },
    },
    positionals: [0, 0],
  },
} as const satisfies Record<string, { summary: string; options: Options; positionals: readonly [number, number] }>;

export type CommandName = keyof typeof COMMANDS;
/** Commands handed to another module with their raw arguments. */
export const DELEGATED = {
  'verify-attestation': 'verify an attestation document, optionally against a published identity (--identity FILE)',
  'key-policy': 'build the PCR-bound KMS key policy from measurements',
} as const;

export interface ParsedCommand {
  readonly command: CommandName;
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
  readonly socket: string;
  readonly json: boolean;
  readonly yes: boolean;
  readonly help: boolean;
}

/** Parse `argv` (after the command name). Throws ERR_USAGE. */
export function parseCommand(command: string, argv: string[], env: NodeJS.ProcessEnv): ParsedCommand {
  if (!Object.prototype.hasOwnProperty.call(COMMANDS, command)) throw usage(`unknown command "${command.slice(0, 40)}"`);
  const spec = COMMANDS[command as CommandName];
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...spec.options }, strict: true, allowPositionals: true });
  } catch (err) {
    throw usage(`${command}: ${(err as Error).message}`);
  }
  const [min, max] = spec.positionals;
  if (parsed.values.help !== true && (parsed.positionals.length < min || parsed.positionals.length > max)) {
    throw usage(`${command} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}`);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  return {
    command: command as CommandName,
    values: v,
    positionals: parsed.positionals,
    socket: (v.socket as string | undefined) ?? env.COSIGNER_SOCKET ?? DEFAULT_CONTROL_SOCKET,
    json: v.json === true,
    yes: v.yes === true,
    help: v.help === true,
  };
}

/** Parse `--since`: ISO time, epoch milliseconds, or a relative age like 30s, 10m, 2h, 1d. */
export function parseSince(v: string, now = Date.now()): number {
  const rel = /^(\d{1,9})([smhd])$/.exec(v);
  if (rel) return now - Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  if (/^\d{10,16}$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw usage(`--since ${v.slice(0, 40)}: expected an ISO time, epoch milliseconds or an age like 10m`);
  return t;
}
