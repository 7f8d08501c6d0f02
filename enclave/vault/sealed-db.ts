// Runs in the enclave. The secrets DB format: AES-256-GCM under a key derived from secrets.key, with
// AAD binding the blob name, the format version and the enclave's generation number, so the parent
// cannot swap blobs between names, downgrade the format, or relabel an old generation as new.
//
//   magic "NCSDB" (5) ‖ format u8 ‖ generation u64 BE ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//   plaintext = JSON { generation, highWater, state }
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { hasMalformedChainCode, type SecretsState } from './records.ts';

export const DB_MAGIC = Buffer.from('NCSDB', 'ascii');
export const DB_FORMAT_VERSION = 1;
const HEADER = 5 + 1 + 8;
const NONCE = 12;
const TAG = 16;
/** Upper bound of a sealed DB (matches the parent store's bound). */
export const MAX_DB_BYTES = 16 * 1024 * 1024;

/** Derives the DB key from secrets.key (HKDF-SHA256), so secrets.key itself encrypts nothing directly. */
export function deriveDbKey(secretsKey: Uint8Array, name: string): Buffer {
  if (secretsKey.length !== 32) throw new CosignerError('ERR_INTERNAL', 'secrets.key must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', secretsKey, Buffer.alloc(0), `nitro-cosigner/${name}/v${DB_FORMAT_VERSION}`, 32));
}

function aad(name: string, format: number, generation: bigint): Buffer {
  const g = Buffer.alloc(8);
  g.writeBigUInt64BE(generation);
  return Buffer.concat([Buffer.from(`nitro-cosigner sealed blob\0${name}\0`, 'ascii'), Buffer.from([format]), g]);
}

/** The decrypted content of one sealed DB. */
export interface OpenedDb {
  readonly generation: bigint;
  /** Highest generation this DB's lineage ever reached (≥ generation; grows past restored backups). */
  readonly highWater: bigint;
  readonly state: SecretsState;
}

/** Seals `state` as generation `generation`. */
export function sealDb(dbKey: Uint8Array, name: string, generation: bigint, highWater: bigint, state: SecretsState): Buffer {
  if (generation < 1n || highWater < generation) throw new CosignerError('ERR_INTERNAL', 'bad generation');
  const header = Buffer.alloc(HEADER);
  DB_MAGIC.copy(header, 0);
  header[5] = DB_FORMAT_VERSION;
  header.writeBigUInt64BE(generation, 6);
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', dbKey, nonce);
  c.setAAD(aad(name, DB_FORMAT_VERSION, generation));
  const plain = Buffer.from(JSON.stringify({ generation: generation.toString(), highWater: highWater.toString(), state }), 'utf8');
  try {
    const out = Buffer.concat([header, nonce, c.update(plain), c.final(), c.getAuthTag()]);
    if (out.length > MAX_DB_BYTES) throw new CosignerError('ERR_LIMIT_EXCEEDED', 'secrets DB too large');
    return out;
  } finally {
    plain.fill(0);
  }
}

function corrupt(why: string): never {
  throw new CosignerError('ERR_SECRETS_DB_CORRUPT', `secrets DB cannot be opened: ${why}`);
}

/** Reads the generation from the header without decrypting (for error messages and checks). */
export function peekGeneration(blob: Uint8Array): bigint {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < HEADER + NONCE + TAG || !b.subarray(0, 5).equals(DB_MAGIC)) corrupt('not a sealed DB');
  if (b[5] !== DB_FORMAT_VERSION) corrupt(`unsupported format version ${b[5]}`);
  return b.readBigUInt64BE(6);
}

/** Opens a sealed DB; any tampering, wrong key or wrong name is ERR_SECRETS_DB_CORRUPT. */
export function openDb(dbKey: Uint8Array, name: string, blob: Uint8Array): OpenedDb {
  if (blob.length > MAX_DB_BYTES) corrupt('too large');
  const generation = peekGeneration(blob);
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const nonce = b.subarray(HEADER, HEADER + NONCE);
  const ct = b.subarray(HEADER + NONCE, b.length - TAG);
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', dbKey, nonce);
    d.setAAD(aad(name, DB_FORMAT_VERSION, generation));
    d.setAuthTag(b.subarray(b.length - TAG));
    plain = Buffer.concat([d.update(ct), d.final()]);
  } catch {
    corrupt('authentication failed (tampered, truncated, or sealed under another key or name)');
  }
  try {
    const j = JSON.parse(plain.toString('utf8')) as { generation?: unknown; highWater?: unknown; state?: unknown };
    if (typeof j.generation !== 'string' || BigInt(j.generation) !== generation) corrupt('inner generation differs from the header');
    if (typeof j.highWater !== 'string' || !/^\d{1,20}$/.test(j.highWater)) corrupt('bad high-water mark');
    const highWater = BigInt(j.highWater);
    if (highWater < generation) corrupt('high-water mark below generation');
    const s = j.state as SecretsState | undefined;
    if (!s || typeof s !== 'object' || s.formatVersion !== 1 || !s.identity || typeof s.identity.cosignerId !== 'string' || !Array.isArray(s.users)) {
      corrupt('state has the wrong shape');
    }
    if (hasMalformedChainCode(s)) corrupt('a key share has a malformed chain code');
    return { generation, highWater, state: s };
  } catch (err) {
    if (err instanceof CosignerError) throw err;
    corrupt('plaintext is not valid JSON');
  } finally {
    plain.fill(0);
  }
}
