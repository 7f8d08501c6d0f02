// Runs the S3 stand-in standalone (the local stack, manual poking with the AWS CLI):
//
//   tsx local/s3/cli.ts --dir DIR --principal AKID:SECRET:ARN [--principal …] [--tls-ca-dir DIR]
//       [--port N] [--region R] [--bucket NAME]
//
// --bucket creates that bucket with versioning enabled unless it exists. Prints one JSON line
// {url, port, region} and runs until SIGINT/SIGTERM.
import { loadOrCreateLocalCa } from '../local-ca.ts';
import type { SigV4Principal } from '../kms/sigv4.ts';
import { ObjectStore } from './object-store.ts';
import { startS3Standin } from './server.ts';

function usage(msg: string): never {
  process.stderr.write(`s3-standin: ${msg}\nusage: cli.ts --dir DIR --principal AKID:SECRET:ARN [--tls-ca-dir DIR] [--port N] [--region R] [--bucket NAME]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let dir: string | undefined;
let tlsCaDir: string | undefined;
let port = 0;
let region = 'us-east-1';
let bucket: string | undefined;
const principals: Record<string, SigV4Principal> = {};
for (let i = 0; i < args.length; i += 2) {
  const k = args[i];
  const v = args[i + 1];
  if (v === undefined) usage(`${k} needs a value`);
  if (k === '--dir') dir = v;
  else if (k === '--tls-ca-dir') tlsCaDir = v;
  else if (k === '--port') port = Number(v);
  else if (k === '--region') region = v;
  else if (k === '--bucket') bucket = v;
  else if (k === '--principal') {
    const [akid, secret, ...arn] = v.split(':');
    if (!akid || !secret || arn.length === 0) usage('--principal AKID:SECRET:ARN');
    principals[akid] = { secretAccessKey: secret, arn: arn.join(':') };
  } else usage(`unknown argument ${k}`);
}
if (!dir) usage('--dir is required');
if (Object.keys(principals).length === 0) usage('at least one --principal is required');
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('bad --port');

if (bucket) {
  const store = new ObjectStore(dir);
  if (!(await store.bucket(bucket).then(() => true, () => false))) await store.createBucket(bucket);
  await store.setVersioning(bucket, 'Enabled');
}
const tls = tlsCaDir ? await (await loadOrCreateLocalCa(tlsCaDir)).issueServerCert() : undefined;
const s3 = await startS3Standin({ dir, principals, port, region, ...(tls ? { tls } : {}) });
process.stdout.write(`${JSON.stringify({ url: s3.url, port: s3.port, region: s3.region })}\n`);
const stop = (): void => {
  void s3.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
