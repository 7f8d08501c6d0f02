// Runs in the enclave. What the enclave must know BEFORE it can unseal: its co-signer id (part of
// secrets.key's KMS EncryptionContext), the KMS key ARN and region, and in local mode the stand-in's
// endpoint. Not secret, so the parent stores it in the clear as `cosigner.json`. The parent can
// alter it, but only to deny service: the id is bound by KMS (EncryptionContext) and by the sealed
// DB, the ARN and region are compared with the sealed state after unsealing, and a production build
// never honours an endpoint (it always talks to kms.<region>.amazonaws.com).
import { CosignerError } from '../../proto/errors.ts';
import type { BlobStore } from '../../proto/ports.ts';

export const BOOT_DESCRIPTOR_BLOB = 'cosigner.json';
const MAX_DESCRIPTOR_BYTES = 4096;

export interface BootDescriptor {
  readonly version: 1;
  readonly cosignerId: string;
  readonly keyArn: string;
  readonly region: string;
  /** Local mode only: the KMS stand-in's https:// endpoint. */
  readonly kmsEndpoint?: string;
  /**
   * SHA-256 hex of the setup parameters, part of secrets.key's EncryptionContext (absent for a
   * secrets.key created before the binding existed). Unauthenticated here: KMS authenticates it.
   */
  readonly setupBinding?: string;
}

function corrupt(why: string): CosignerError {
  return new CosignerError('ERR_SECRETS_KEY_CORRUPT', `${BOOT_DESCRIPTOR_BLOB}: ${why}; restore it from backup or run setup on a clean COSIGNER_HOME`);
}

/** Strict parse of the stored descriptor (unknown fields, wrong types and oversize are refused). */
export function parseBootDescriptor(bytes: Uint8Array): BootDescriptor {
  if (bytes.length > MAX_DESCRIPTOR_BYTES) throw corrupt('too large');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw corrupt('not JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw corrupt('not an object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['version', 'cosignerId', 'keyArn', 'region', 'kmsEndpoint', 'setupBinding'].includes(k)) throw corrupt(`unknown field ${k.slice(0, 32)}`);
  if (o.version !== 1) throw corrupt('unknown version');
  const s = (k: string, re: RegExp): string => {
    const v = o[k];
    if (typeof v !== 'string' || !re.test(v)) throw corrupt(`bad ${k}`);
    return v;
  };
  const d: BootDescriptor = {
    version: 1,
    cosignerId: s('cosignerId', /^[A-Za-z0-9._:-]{1,128}$/),
    keyArn: s('keyArn', /^arn:aws[a-z-]*:kms:[a-z0-9-]{1,32}:\d{12}:key\/[A-Za-z0-9-]{1,128}$/),
    region: s('region', /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/),
    ...(o.kmsEndpoint !== undefined ? { kmsEndpoint: s('kmsEndpoint', /^https:\/\/[A-Za-z0-9.:[\]-]{1,260}$/) } : {}),
    ...(o.setupBinding !== undefined ? { setupBinding: s('setupBinding', /^[0-9a-f]{64}$/) } : {}),
  };
  return d;
}

export async function readBootDescriptor(blobs: BlobStore): Promise<BootDescriptor | null> {
  const b = await blobs.get(BOOT_DESCRIPTOR_BLOB);
  return b ? parseBootDescriptor(b.data) : null;
}

/** Store the descriptor (replacing a leftover from a setup that never finished). */
export async function writeBootDescriptor(blobs: BlobStore, d: BootDescriptor): Promise<void> {
  const existing = await blobs.get(BOOT_DESCRIPTOR_BLOB);
  await blobs.put(BOOT_DESCRIPTOR_BLOB, new TextEncoder().encode(JSON.stringify(d)), existing?.generation ?? 0n);
}
