// Runs on the parent. The on-disk framing of one stored blob: a fixed header carrying the store's
// generation (used only for compare-and-swap; the enclave seals its own generation inside the blob)
// followed by the opaque bytes. The header has a CRC so a torn or scribbled header is noticed here
// rather than handed to the enclave as a wrong generation.
import { crc32 } from 'node:zlib';
import { CosignerError } from '../../proto/errors.ts';

const MAGIC = Buffer.from('NCB1', 'ascii');
/** magic(4) ‖ generation u64 BE ‖ data length u32 BE ‖ crc32(first 16 bytes) u32 BE */
export const HEADER_BYTES = 20;

/** Frames `data` with the store header for `generation`. */
export function encodeBlobFile(generation: bigint, data: Uint8Array): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeBigUInt64BE(generation, 4);
  h.writeUInt32BE(data.length, 12);
  h.writeUInt32BE(crc32(h.subarray(0, 16)), 16);
  return Buffer.concat([h, data]);
}

/** Parses a stored file; a bad header, checksum or length is ERR_STORAGE. */
export function decodeBlobFile(name: string, file: Buffer): { generation: bigint; data: Uint8Array } {
  const bad = (why: string): never => {
    throw new CosignerError('ERR_STORAGE', `stored blob ${name} is unreadable: ${why}`, { details: { name } });
  };
  if (file.length < HEADER_BYTES) bad('shorter than its header');
  if (!file.subarray(0, 4).equals(MAGIC)) bad('bad magic');
  if (file.readUInt32BE(16) !== crc32(file.subarray(0, 16))) bad('header checksum mismatch');
  const len = file.readUInt32BE(12);
  if (file.length !== HEADER_BYTES + len) bad('length mismatch');
  const generation = file.readBigUInt64BE(4);
  if (generation === 0n) bad('generation 0');
  return { generation, data: new Uint8Array(file.subarray(HEADER_BYTES)) };
}
