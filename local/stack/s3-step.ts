// Local development host only. The local stack's S3 stand-in (local/s3/): where the daemon keeps
// the sealed blobs (storage type s3) and the lease object by default, as on AWS, so losing the
// stack's COSIGNER_HOME loses nothing (docs/operations.md, "Replacing an instance").
import { join, relative } from 'node:path';
import type { ImdsStandin } from '../imds/server.ts';
import { ObjectStore } from '../s3/object-store.ts';
import { startS3Standin } from '../s3/server.ts';
import type { StepContext } from './standins.ts';
import { LOCAL_REGION } from './types.ts';

/** The bucket and keys the local stack's daemons use (one bucket: blobs under a prefix, the lease beside them). */
export const LOCAL_BUCKET = 'cosigner-local-state';
export const LOCAL_PREFIX = 'cosigner';
export const LOCAL_LEASE_KEY = 'lease/active-signer';

/** The stand-in's folder for its objects; the object folder of the bucket says whether anything was sealed. */
export const s3Dir = (dir: string): string => join(dir, 's3');
export const bucketObjectsDir = (dir: string): string => join(s3Dir(dir), LOCAL_BUCKET, 'o');

export interface LocalS3 {
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
}

/**
 * Start the S3 stand-in on loopback, with the bucket created and versioned (what the daemon's
 * start-up check demands). It accepts exactly the instance role's credentials from the IMDS stand-in:
 * the daemon signs with those, as it would with the instance role on AWS. Plain HTTP: loopback only,
 * and every object in it is sealed (a sealed blob is useless outside the measured image).
 */
export async function startS3Step(ctx: StepContext, o: { readonly imds: ImdsStandin; readonly port: number }): Promise<LocalS3> {
  const dir = s3Dir(ctx.dir);
  const store = new ObjectStore(dir);
  if (!(await store.bucket(LOCAL_BUCKET).then(() => true, () => false))) await store.createBucket(LOCAL_BUCKET);
  await store.setVersioning(LOCAL_BUCKET, 'Enabled');
  const s3 = await startS3Standin({ dir, principals: (id: string) => o.imds.lookup(id), port: o.port, region: LOCAL_REGION });
  ctx.closers.push(() => s3.close());
  ctx.log(`local-stack: S3 stand-in         ${s3.url}  bucket ${LOCAL_BUCKET} (versioned; objects in ${relative(process.cwd(), dir)})`);
  return { url: s3.url, bucket: LOCAL_BUCKET, prefix: LOCAL_PREFIX, region: LOCAL_REGION };
}
