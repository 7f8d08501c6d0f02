// Runs on the parent. The `storage` section of the daemon config: where the sealed blobs live.
// `{ "type": "file" }` (default) is COSIGNER_HOME/db; `{ "type": "s3", … }` is a versioned S3 bucket
// (parent/storage/s3-blob-store.ts), so losing the instance does not lose the key shares.
import { CosignerError } from '../../proto/errors.ts';

export type StorageConfig =
  | { readonly type: 'file' }
  | { readonly type: 's3'; readonly bucket: string; readonly prefix: string; readonly region: string; readonly endpoint?: string; readonly retain: number };

function invalid(field: string, why: string): never {
  throw new CosignerError('ERR_CONFIG_INVALID', `config field "storage.${field}" ${why}`, { details: { field: `storage.${field}` } });
}

const str = (o: Record<string, unknown>, k: string, re: RegExp, what: string): string => {
  const v = o[k];
  if (typeof v !== 'string' || !re.test(v)) invalid(k, what);
  return v;
};

/** Validates the `storage` section; unknown fields and a non-loopback endpoint are refused. */
export function parseStorageConfig(raw: unknown, mode: 'nitro' | 'local'): StorageConfig {
  if (raw === undefined) return { type: 'file' };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) invalid('(section)', 'must be an object');
  const o = raw as Record<string, unknown>;
  if (o.type === 'file') {
    for (const k of Object.keys(o)) if (k !== 'type') invalid(k, 'is not a setting of file storage');
    return { type: 'file' };
  }
  if (o.type !== 's3') invalid('type', 'must be "file" or "s3"');
  for (const k of Object.keys(o)) if (!['type', 'bucket', 'prefix', 'region', 'endpoint', 'retain'].includes(k)) invalid(k, 'is not a setting of s3 storage');
  const bucket = str(o, 'bucket', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name');
  const prefix = str(o, 'prefix', /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/, 'must be a key prefix without leading or trailing slash');
  if (prefix.length > 200) invalid('prefix', 'is longer than 200 characters');
  const region = str(o, 'region', /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region such as us-east-1');
  let endpoint: string | undefined;
  if (o.endpoint !== undefined) {
    // Only the local S3 stand-in: in production the SDK's regional HTTPS endpoint is the one trusted.
    if (mode !== 'local') invalid('endpoint', 'is for local mode only');
    endpoint = str(o, 'endpoint', /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/, 'must be http(s)://127.0.0.1:PORT (loopback only)');
  }
  const retain = o.retain ?? 0;
  if (typeof retain !== 'number' || !Number.isSafeInteger(retain) || retain < 0 || retain > 1_000_000) invalid('retain', 'must be an integer from 0 (keep all) to 1000000');
  return { type: 's3', bucket, prefix, region, ...(endpoint !== undefined ? { endpoint } : {}), retain };
}
