// Runs on the parent (the `cosigner` CLI). `cosigner help` and `cosigner <command> --help`: every
// command's description, flags (each described) and an example, from the one COMMANDS table, so a
// flag cannot be added without help (test/parent/cli/help.test.ts checks every entry).
import { COMMANDS, DELEGATED, GLOBAL_OPTIONS, type CommandName } from './args.ts';

/** What each flag means; shared by the commands that accept it. */
export const FLAG_HELP: Record<string, string> = {
  socket: 'control socket of cosigner-parent (default /run/cosigner/control.sock, or COSIGNER_SOCKET)',
  json: 'print one JSON object: {"ok":true,"command","result"} or {"ok":false,"command","exitCode","error"}',
  yes: 'never prompt: a missing required value is a usage error (exit 2)',
  help: 'this text',
  'kms-key-arn': 'the symmetric KMS key that wraps secrets.key (arn:aws:kms:REGION:ACCOUNT:key/ID)',
  region: 'the KMS key\'s AWS region (the ARN\'s region)',
  'pairing-token': 'a pairing token from the coordinator (nct1.…), checked against the coordinator key before anything is sealed',
  'kms-endpoint': 'a KMS endpoint URL (local stack only; a production enclave refuses it)',
  'coordinator-url': 'the coordinator\'s host:port',
  'coordinator-public-key': 'file with the coordinator\'s public key (PEM); it signs pairing tokens and welcomes',
  'owner-public-key': 'file with the workspace owner\'s Ed25519 public key (PEM); the owner approves every later change',
  'callback-url': 'the Callback Handler\'s https:// URL; its host:port must be in the egress allow-list',
  'auth-mode': 'public-key | certificate | root-ca | public-key+certificate | public-key+root-ca (default: from the key/cert flags)',
  'handler-public-key': 'file with the handler\'s public key (PEM, RS256 or ES256): verifies its signed answers',
  'handler-certificate': 'file with the handler\'s TLS certificate (PEM) to pin',
  'root-ca': 'file with the root CA (PEM) the handler\'s TLS certificate must chain to',
  'fetch-certificate': 'fetch the handler\'s TLS certificate from --callback-url and pin it after you confirm its fingerprint',
  'certificate-fingerprint': 'expected SHA-256 fingerprint of the fetched certificate (needed with --fetch-certificate without a terminal)',
  'no-wait': 'return once the daemon has acted; do not wait for the co-signer to be able to sign',
  timeout: 'seconds to wait (1 to 3600)',
  'allow-rollback-to': 'accept this older secrets DB generation (a deliberate restore the workspace owner acknowledged)',
  confirm: 'ignored: the workspace owner approves changes at the coordinator',
  'rotation-signature': 'file with a compact JWS by the CURRENT handler key over the new settings: applies a key rotation at once',
  follow: 'keep printing new records until interrupted',
  n: 'how many records (default 50, at most 10000)',
  since: 'records since an ISO time, epoch ms, or an age such as 30s, 10m, 2h, 1d',
  nonce: 'hex nonce (at most 512 bytes) the document must carry',
  out: 'write the raw COSE document to this file (its directory must exist)',
  eif: 'the new enclave image file (relative to the current directory)',
  measurements: 'nitro-cli build-enclave measurements JSON of the new image',
  'instance-role': 'the parent\'s instance role ARN whose access the key policy must keep (or COSIGNER_INSTANCE_ROLE)',
  policy: 'a key policy JSON file to check instead of reading it with kms:GetKeyPolicy',
  blob: 'which blob to restore: secrets.db (default) or secrets.key',
};

const POSITIONALS: Partial<Record<CommandName, string>> = {
  'remove-user': 'USER_ID',
  'refresh-key': 'USER_ID KEY_ID',
  'callback-update': '[USER_ID]',
  backups: 'list | restore GEN',
};

/** One example per command: what an operator types. */
export const EXAMPLES: Record<CommandName, string> = {
  setup: 'cosigner setup --kms-key-arn arn:aws:kms:us-east-1:111122223333:key/ID --region us-east-1 --coordinator-url coordinator.example.com:443 --coordinator-public-key coordinator.pem --owner-public-key owner.pem',
  start: 'cosigner start --timeout 300',
  stop: 'cosigner stop',
  restart: 'cosigner restart',
  status: 'cosigner status --json',
  unseal: 'cosigner unseal',
  'add-user': 'cosigner add-user --pairing-token nct1.… --callback-url https://handler.example.com:8443/v1/approve --handler-public-key handler.pem',
  'list-users': 'cosigner list-users',
  'remove-user': 'cosigner remove-user alice',
  'refresh-key': 'cosigner refresh-key alice dkls23-secp256k1:0123abcd…',
  'callback-update': 'cosigner callback-update alice --callback-url https://handler.example.com:8443/v1/approve --handler-public-key handler.pem',
  changes: 'cosigner changes',
  backups: 'cosigner backups list; cosigner stop && cosigner backups restore 42 && cosigner start',
  'print-public-key': 'cosigner print-public-key --json > identity.json',
  logs: 'cosigner logs -f --since 10m',
  attestation: 'cosigner attestation --nonce "$(openssl rand -hex 32)" --out doc.cose',
  upgrade: 'cosigner upgrade --eif cosigner-0.2.0.eif --measurements measurements-0.2.0.json --instance-role arn:aws:iam::111122223333:role/cosigner-parent --kms-key-arn "$KEY_ARN" --region us-east-1',
};

/** `--help` text of one command. */
export function commandHelp(command: CommandName): string {
  const spec = COMMANDS[command];
  const flags = Object.entries({ ...spec.options, ...GLOBAL_OPTIONS } as Record<string, { type: string; short?: string }>);
  const width = Math.max(...flags.map(([k, o]) => k.length + (o.type === 'string' ? 6 : 0))) + 4;
  const lines = flags.map(([k, o]) => `  ${`--${k}${o.type === 'string' ? ' VALUE' : ''}`.padEnd(width)}${o.short ? `(-${o.short}) ` : ''}${FLAG_HELP[k] ?? ''}`);
  const pos = POSITIONALS[command] ? ` ${POSITIONALS[command]}` : '';
  return [`usage: cosigner ${command}${pos} [flags]`, '', `  ${spec.summary}`, '', 'flags:', ...lines, '', 'example:', `  ${EXAMPLES[command]}`, ''].join('\n');
}

/** `cosigner help`. */
export function mainHelp(): string {
  const lines = Object.entries(COMMANDS).map(([k, s]) => `  ${k.padEnd(20)}${s.summary}`);
  const del = Object.entries(DELEGATED).map(([k, s]) => `  ${k.padEnd(20)}${s}`);
  return [
    'usage: cosigner <command> [flags]    (cosigner <command> --help: its flags and an example)',
    '',
    ...lines,
    ...del,
    '',
    'global flags: --socket PATH (or COSIGNER_SOCKET), --json, --yes (never prompt), --help',
    'exit codes: 0 ok, 1 failed, 2 usage or bad value, 3 daemon unreachable, 4 enclave unavailable/busy (retry),',
    '            5 refused for safety (upgrade, restore), 6 the co-signer cannot sign (not set up, sealed, rollback, no coordinator)',
    '',
  ].join('\n');
}
