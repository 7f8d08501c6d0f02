// Runs on the parent or an admin workstation. `cosigner key-policy`: turns the measurements nitro-cli
// prints for an enclave image into the KMS key policy (proto/kms/key-policy.ts) and writes it.
import { readFileSync } from 'node:fs';
import { CosignerError } from '../../proto/errors.ts';
import { buildKeyPolicy, parseMeasurements } from '../../proto/kms/key-policy.ts';
import { buildBucketPolicy } from '../storage/bucket-policy.ts';
import { writeFileAtomic } from '../storage/write-file-atomic.ts';

const USAGE = 'key-policy MEASUREMENTS.json --instance-role ARN --admin ARN [--pcr8 HEX] [--also FILE]... [--out FILE] [--bucket NAME --prefix P [--lease-key KEY] --bucket-out FILE]';

interface CliArgs {
  measurements: string;
  instanceRole: string;
  admin: string;
  pcr8?: string;
  also: string[];
  out?: string;
  bucket?: string;
  prefix?: string;
  leaseKey?: string;
  bucketOut?: string;
}

function parseArgs(argv: readonly string[]): CliArgs {
  const a: Partial<CliArgs> & { also: string[] } = { also: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new CosignerError('ERR_USAGE', `${k} needs a value`);
      return v;
    };
    if (k === '--instance-role') a.instanceRole = next();
    else if (k === '--admin') a.admin = next();
    else if (k === '--pcr8') a.pcr8 = next();
    else if (k === '--also') a.also.push(next());
    else if (k === '--out') a.out = next();
    else if (k === '--measurements') a.measurements = next();
    else if (k === '--bucket') a.bucket = next();
    else if (k === '--prefix') a.prefix = next();
    else if (k === '--lease-key') a.leaseKey = next();
    else if (k === '--bucket-out') a.bucketOut = next();
    else if (!k.startsWith('--') && a.measurements === undefined) a.measurements = k;
    else throw new CosignerError('ERR_USAGE', `unknown argument ${k}`);
  }
  if (!a.measurements || !a.instanceRole || !a.admin || (a.bucket === undefined) !== (a.bucketOut === undefined)) {
    throw new CosignerError('ERR_USAGE', `usage: ${USAGE}`);
  }
  return a as CliArgs;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CosignerError('ERR_CONFIG_INVALID', `cannot read ${path} as JSON`, { cause: err });
  }
}

/** CLI body, exported so `cosigner key-policy` can call it. Returns the policy JSON text. */
export async function keyPolicyCli(argv: readonly string[]): Promise<string> {
  const a = parseArgs(argv);
  const policy = buildKeyPolicy({
    measurements: parseMeasurements(readJson(a.measurements)),
    instanceRoleArn: a.instanceRole,
    adminArn: a.admin,
    ...(a.pcr8 !== undefined ? { pcr8: a.pcr8 } : {}),
    also: a.also.map((f) => parseMeasurements(readJson(f))),
  });
  const text = `${JSON.stringify(policy, null, 2)}\n`;
  // The S3 bucket policy for durable sealed state, from the same instance role (docs/operations.md).
  const bucketPolicy = a.bucket === undefined ? undefined : buildBucketPolicy({ bucket: a.bucket, prefix: a.prefix ?? '', instanceRoleArn: a.instanceRole, ...(a.leaseKey !== undefined ? { leaseKey: a.leaseKey } : {}) });
  if (a.out) await writeFileAtomic(a.out, text);
  if (bucketPolicy && a.bucketOut) await writeFileAtomic(a.bucketOut, `${JSON.stringify(bucketPolicy, null, 2)}\n`);
  return text;
}

