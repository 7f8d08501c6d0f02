// Both sides of the coordinator link (enclave client, reference coordinator). Length-prefixed JSON
// frames over the TLS stream: u32 big-endian length, then that many bytes of UTF-8 JSON. Bounded:
// a length above MAX_FRAME_BYTES is a protocol violation and the connection is dropped.
import { CosignerError } from '../errors.ts';

/** Largest frame either side accepts (a 16-party DKG round fits with room to spare). */
export const MAX_FRAME_BYTES = 256 * 1024;

/** Encodes one JSON value as a frame. */
export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  if (body.length > MAX_FRAME_BYTES) throw new CosignerError('ERR_FRAME_TOO_LARGE', 'coordinator frame too large', { details: { bytes: body.length } });
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Incremental decoder: push bytes, get whole parsed frames back. Throws on violations. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
      this.chunks = [all];
      const len = all.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) throw new CosignerError('ERR_FRAME_TOO_LARGE', 'coordinator frame too large', { details: { bytes: len } });
      if (all.length < 4 + len) break;
      const body = all.subarray(4, 4 + len);
      const rest = all.subarray(4 + len);
      this.chunks = rest.length > 0 ? [Buffer.from(rest)] : [];
      this.buffered = rest.length;
      try {
        out.push(JSON.parse(body.toString('utf8')));
      } catch {
        throw new CosignerError('ERR_FRAME_MALFORMED', 'coordinator frame is not JSON');
      }
    }
    return out;
  }
}
