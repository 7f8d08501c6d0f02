// Runs the KMS stand-in standalone (the local stack, `make demo`, manual poking with the AWS CLI):
//
//   tsx local/kms/cli.ts --dir DIR --trust-root ROOT.pem [--trust-root …]
//       [--tls-ca-dir DIR] [--port N] [--principal AKID:SECRET:ARN]… [--create-key POLICY.json]
//
// With --tls-ca-dir it serves HTTPS with a certificate from the persisted local CA in that dir
// (ca.pem is what the enclave trusts); without it, plain HTTP. --create-key creates a key with
// that policy file (scripts/key-policy.ts output) unless the dir already holds one with the same
// description. Prints one JSON line {url, port, keyArn?} and runs until SIGINT/SIGTERM.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreateLocalCa } from '../local-ca.ts';
import { startKmsStandin } from './server.ts';
import type { SigV4Principal } from './sigv4.ts';

function usage(msg: string): never {
  process.stderr.write(`kms-standin: ${msg}\nusage: cli.ts --dir DIR --trust-root PEM [--tls-ca-dir DIR] [--port N] [--principal AKID:SECRET:ARN] [--create-key POLICY.json]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let dir: string | undefined;
let tlsCaDir: string | undefined;
let port = 0;
let createKey: string | undefined;
const roots: string[] = [];
const principals: Record<string, SigV4Principal> = {};
for (let i = 0; i < args.length; i++) {
  const k = args[i];
  const v = args[i + 1];
  if (v === undefined) usage(`${k} needs a value`);
  i++;
  if (k === '--dir') dir = v;
  else if (k === '--trust-root') roots.push(readFileSync(v, 'utf8'));
  else if (k === '--tls-ca-dir') tlsCaDir = v;
  else if (k === '--port') port = Number(v);
  else if (k === '--create-key') createKey = v;
  else if (k === '--principal') {
    const [akid, secret, ...arn] = v.split(':');
    if (!akid || !secret || arn.length === 0) usage('--principal AKID:SECRET:ARN');
    principals[akid] = { secretAccessKey: secret, arn: arn.join(':') };
  } else usage(`unknown argument ${k}`);
}
if (!dir) usage('--dir is required');
if (roots.length === 0) usage('at least one --trust-root is required');
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('bad --port');

const tls = tlsCaDir ? await (await loadOrCreateLocalCa(tlsCaDir)).issueServerCert() : undefined;
const kms = await startKmsStandin({ dir, trustRootsPem: roots, principals, port, ...(tls ? { tls } : {}) });
let keyArn: string | undefined;
if (createKey) {
  const marker = join(dir, 'created-key.json');
  try {
    keyArn = (JSON.parse(readFileSync(marker, 'utf8')) as { keyArn: string }).keyArn;
  } catch {
    keyArn = (await kms.createKey(readFileSync(createKey, 'utf8'), 'nitro-cosigner')).arn;
    writeFileSync(marker, JSON.stringify({ keyArn }));
  }
}
process.stdout.write(`${JSON.stringify({ url: kms.url, port: kms.port, ...(keyArn ? { keyArn } : {}) })}\n`);
const stop = (): void => {
  void kms.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
