// KMS stand-in (local stack and tests only). Its error type, request-field validation, the
// ciphertext blob format (AES-256-GCM under the key's material, bound to the key id and the
// encryption context) and the key metadata it answers with.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { parseKeyPolicy, type KeyPolicy } from '../../proto/kms/key-policy.ts';
import type { StoredKey } from './key-store.ts';

export class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const MAX_PLAINTEXT = 4096;
const BLOB_VERSION = 1;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function b64(v: unknown, field: string, max = 64 * 1024): Buffer {
  if (typeof v !== 'string' || !B64_RE.test(v) || v.length > Math.ceil(max / 3) * 4) {
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint`);
  }
  return Buffer.from(v, 'base64');
}

export function str(v: unknown, field: string, max = 2048): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint`);
  }
  return v;
}

export function encryptionContext(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new KmsError('ValidationException', 'EncryptionContext must be a map');
  const out: Record<string, string> = {};
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 64) throw new KmsError('ValidationException', 'EncryptionContext too large');
  for (const [k, val] of entries) out[str(k, 'encryptionContext.key', 256)] = str(val, 'encryptionContext.value', 1024);
  return out;
}

/** AAD for a ciphertext blob: key id plus the canonical (sorted) encryption context. */
function aad(keyId: string, ctx: Record<string, string>): Buffer {
  const sorted = Object.keys(ctx).sort().map((k) => [k, ctx[k]]);
  return Buffer.from(JSON.stringify(['nitro-cosigner-kms-standin/1', keyId, sorted]));
}

export function seal(key: StoredKey, plaintext: Buffer, ctx: Record<string, string>): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', Buffer.from(key.material, 'hex'), iv);
  c.setAAD(aad(key.keyId, ctx));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  const id = Buffer.from(key.keyId, 'ascii');
  return Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id, iv, c.getAuthTag(), ct]);
}

export function parseBlob(blob: Buffer): { keyId: string; iv: Buffer; tag: Buffer; ct: Buffer } {
  const bad = (): never => {
    throw new KmsError('InvalidCiphertextException', '');
  };
  if (blob.length < 2 + 36 + 28 || blob[0] !== BLOB_VERSION || blob[1] !== 36) bad();
  const keyId = blob.subarray(2, 38).toString('ascii');
  return { keyId, iv: blob.subarray(38, 50), tag: blob.subarray(50, 66), ct: blob.subarray(66) };
}

export function unseal(key: StoredKey, p: ReturnType<typeof parseBlob>, ctx: Record<string, string>): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', Buffer.from(key.material, 'hex'), p.iv);
    d.setAAD(aad(key.keyId, ctx));
    d.setAuthTag(p.tag);
    return Buffer.concat([d.update(p.ct), d.final()]);
  } catch {
    throw new KmsError('InvalidCiphertextException', '');
  }
}

export function keyMetadata(k: StoredKey, account: string): Record<string, unknown> {
  return {
    AWSAccountId: account,
    KeyId: k.keyId,
    Arn: k.arn,
    CreationDate: k.createdAt / 1000,
    Enabled: k.enabled,
    Description: k.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: k.enabled ? 'Enabled' : 'Disabled',
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

export function parsePolicyOrThrow(p: unknown): KeyPolicy {
  if (typeof p !== 'string') throw new KmsError('MalformedPolicyDocumentException', 'Policy must be a string');
  try {
    return parseKeyPolicy(p);
  } catch (err) {
    throw new KmsError('MalformedPolicyDocumentException', (err as Error).message);
  }
}
