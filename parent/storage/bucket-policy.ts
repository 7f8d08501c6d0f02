// Runs on the parent or an admin workstation (`cosigner key-policy … --bucket`). The S3 bucket
// policy for durable sealed state (docs/operations.md, "Durable storage in S3"): the instance role is
// the only principal that may read, write or delete the sealed generations and the lease object, and
// plain HTTP is refused for everyone. The blobs are sealed under secrets.key, so this policy protects
// availability and integrity of history (no one else may delete or overwrite generations), not secrecy.
import { CosignerError } from '../../proto/errors.ts';

export interface BucketPolicyInput {
  readonly bucket: string;
  /** Key prefix of the sealed blobs (storage.prefix), without leading or trailing slash. */
  readonly prefix: string;
  readonly instanceRoleArn: string;
  /** The lease object's key (lease.objectKey), when a lease is configured. */
  readonly leaseKey?: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const KEY = /^[A-Za-z0-9!_.*'()/-]{1,512}$/;
const ROLE = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

function check(ok: boolean, what: string): void {
  if (!ok) throw new CosignerError('ERR_USAGE', `key-policy: ${what}`);
}

/** The bucket policy document (IAM JSON) for `input`. */
export function buildBucketPolicy(input: BucketPolicyInput): Record<string, unknown> {
  check(BUCKET.test(input.bucket) && !input.bucket.includes('..'), '--bucket must be an S3 bucket name');
  const prefix = input.prefix.replace(/^\/+|\/+$/g, '');
  check(prefix === '' || KEY.test(prefix), '--prefix must be an S3 key prefix');
  check(ROLE.test(input.instanceRoleArn), '--instance-role must be an IAM role ARN');
  if (input.leaseKey !== undefined) check(KEY.test(input.leaseKey), '--lease-key must be an S3 key');
  const bucketArn = `arn:aws:s3:::${input.bucket}`;
  const objects = [`${bucketArn}/${prefix === '' ? '' : `${prefix}/`}*`, ...(input.leaseKey !== undefined ? [`${bucketArn}/${input.leaseKey}`] : [])];
  const role = { AWS: input.instanceRoleArn };
  const objectActions = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'];
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'DenyInsecureTransport', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [bucketArn, `${bucketArn}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      { Sid: 'OnlyTheCosignerRole', Effect: 'Deny', NotPrincipal: role, Action: objectActions, Resource: objects },
      { Sid: 'CosignerRole', Effect: 'Allow', Principal: role, Action: objectActions, Resource: objects },
      { Sid: 'CosignerRoleBucket', Effect: 'Allow', Principal: role, Action: ['s3:ListBucket', 's3:GetBucketVersioning'], Resource: bucketArn },
    ],
  };
}
