// Both sides. u32 big-endian length + protobuf Frame. The length is checked against the limit
// before a single byte of the body is buffered, so a hostile length cannot make us allocate.
import protobuf from 'protobufjs';
import { CosignerError } from '../errors.ts';
import { loadSchema } from './schema.ts';

/** Default largest frame (length prefix excluded) either side accepts. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Hard ceiling for the configurable limit. */
export const MAX_FRAME_BYTES_CEILING = 16 * 1024 * 1024;
/**
 * Largest first frame of a connection. The first frame is always the handshake (or a goaway refusing
 * the connection), a few hundred bytes: a connection that has not completed the handshake can make
 * the receiver hold no more than this, whatever its length prefix says.
 */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;

/**
 * A decoded Frame: protobufjs message with the `kind` oneof getter. A StreamData frame taken by the
 * fast path carries its payload as `parts` (slices of the received chunks, in order, `length`
 * bytes in all) instead.
 */
export type DecodedFrame = { streamId: number; kind?: string; parts?: Buffer[]; length?: number } & Record<string, any>;

/** Frames at least this long are checked for the StreamData fast path. */
const FAST_PATH_MIN = 256;

function readVarint(h: Buffer, o: number): [number, number] | null {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 5; i++) {
    if (o >= h.length) return null;
    const b = h[o++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return v <= 0xffff_ffff ? [v, o] : null;
    mul *= 128;
  }
  return null;
}

/**
 * If `h` (the first bytes of a frame body of `bodyLength` bytes) starts a StreamData frame in the
 * layout encodeDataFrameHeader writes, returns its stream id and header length, else null (and
 * the general decoder takes the frame). Decoding is the same as protobuf's for this layout; every
 * length must add up exactly to bodyLength.
 */
export function parseDataFrameHeader(h: Buffer, bodyLength: number): { streamId: number; headerLength: number } | null {
  let o = 0;
  if (h[o++] !== 0x08) return null;
  const id = readVarint(h, o);
  if (!id || id[0] === 0) return null;
  o = id[1];
  if (h[o++] !== 0x42) return null;
  const inner = readVarint(h, o);
  if (!inner) return null;
  o = inner[1];
  const innerStart = o;
  if (h[o++] !== 0x0a) return null;
  const plen = readVarint(h, o);
  if (!plen) return null;
  o = plen[1];
  if (o - innerStart + plen[0] !== inner[0] || o + plen[0] !== bodyLength) return null;
  return { streamId: id[0], headerLength: o };
}

let frameType: protobuf.Type | null = null;
function Frame(): protobuf.Type {
  return (frameType ??= loadSchema().Frame);
}

/** Encodes one frame (plain object shaped like cosigner.v1.Frame) with its length prefix. */
export function encodeFrame(frame: Record<string, unknown>, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  // Four placeholder bytes go first and become the big-endian length once the size is known: the
  // frame is built in one buffer, with no second copy to put the prefix in front.
  const w = protobuf.Writer.create().fixed32(0);
  const out = Frame().encode(frame as unknown as protobuf.Message, w).finish();
  const bodyLength = out.length - 4;
  if (bodyLength > maxFrameBytes) {
    throw new CosignerError('ERR_FRAME_TOO_LARGE', `frame of ${bodyLength} bytes exceeds the limit of ${maxFrameBytes}`);
  }
  const buf = Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.length);
  buf.writeUInt32BE(bodyLength, 0);
  return buf;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[off++] = n;
  return off;
}

/**
 * Length prefix + protobuf header of `Frame{stream_id, data: StreamData{data}}` for a payload of
 * `payloadLength` bytes; the payload itself follows unchanged. This is the hot path of every
 * tunnel: writing header and payload separately (writev) avoids two copies per chunk. The bytes are
 * exactly what protobufjs produces for the same frame (test/proto/runtime/framing.test.ts checks).
 */
export function encodeDataFrameHeader(streamId: number, payloadLength: number, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  const h = Buffer.allocUnsafe(DATA_HEADER_MAX);
  return h.subarray(0, writeDataFrameHeader(h, streamId, payloadLength, maxFrameBytes));
}

/** Longest header encodeDataFrameHeader produces (prefix 4 + 3 tags + 3 varints of ≤ 5 bytes). */
export const DATA_HEADER_MAX = 4 + 3 + 15;

/** Length of the header encodeDataFrameHeader writes for this stream id and payload length. */
export function dataFrameHeaderLength(streamId: number, payloadLength: number): number {
  const inner = payloadLength > 0 ? 1 + varintLength(payloadLength) : 0;
  const idPart = streamId > 0 ? 1 + varintLength(streamId) : 0;
  const innerTotal = payloadLength > 0 ? inner + payloadLength : 0;
  return 4 + idPart + 1 + varintLength(innerTotal) + inner;
}

/** Writes the data frame header into `h` at offset 0 and returns its length (see encodeDataFrameHeader). */
export function writeDataFrameHeader(h: Buffer, streamId: number, payloadLength: number, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): number {
  // StreamData = 0x0a len(data) data;  Frame = [0x08 varint(id)] 0x42 len(StreamData) StreamData
  const inner = payloadLength > 0 ? 1 + varintLength(payloadLength) + payloadLength : 0;
  const idPart = streamId > 0 ? 1 + varintLength(streamId) : 0;
  const body = idPart + 1 + varintLength(inner) + inner;
  if (body > maxFrameBytes) throw new CosignerError('ERR_FRAME_TOO_LARGE', `frame of ${body} bytes exceeds the limit of ${maxFrameBytes}`);
  const headerLength = 4 + body - payloadLength;
  h.writeUInt32BE(body, 0);
  let o = 4;
  if (streamId > 0) {
    h[o++] = 0x08;
    o = writeVarint(h, o, streamId);
  }
  h[o++] = 0x42;
  o = writeVarint(h, o, inner);
  if (payloadLength > 0) {
    h[o++] = 0x0a;
    o = writeVarint(h, o, payloadLength);
  }
  if (o !== headerLength) throw new CosignerError('ERR_INTERNAL', 'data frame header length mismatch');
  return o;
}

let kindTable: Array<{ name: string; type: protobuf.Type } | undefined> | null = null;
function kinds(): Array<{ name: string; type: protobuf.Type } | undefined> {
  if (kindTable) return kindTable;
  const t: Array<{ name: string; type: protobuf.Type } | undefined> = [];
  for (const f of Frame().oneofs.kind!.fieldsArray) t[f.id] = { name: f.name, type: f.resolvedType as protobuf.Type };
  return (kindTable = t);
}

/**
 * Decodes a frame body (without prefix); any protobuf error becomes ERR_FRAME_MALFORMED.
 * The envelope (stream_id + the `kind` oneof) is walked here and each variant decoded by
 * protobufjs: its generic oneof handling deletes properties on every decode, which makes a
 * round trip measurably slower. Unknown fields are skipped, the last variant present wins.
 */
export function decodeFrameBody(body: Uint8Array): DecodedFrame {
  const table = kinds();
  const r = protobuf.Reader.create(body);
  let streamId = 0;
  let kind: string | undefined;
  let value: unknown;
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === 0) {
        streamId = r.uint32();
        continue;
      }
      const k = wireType === 2 ? table[field] : undefined;
      if (k) {
        kind = k.name;
        value = k.type.decode(r, r.uint32());
      } else {
        r.skipType(wireType);
      }
    }
  } catch (err) {
    throw new CosignerError('ERR_FRAME_MALFORMED', 'frame is not a valid cosigner.v1.Frame', { cause: err });
  }
  if (kind === undefined) throw new CosignerError('ERR_FRAME_MALFORMED', 'frame has no kind');
  return { streamId, kind, [kind]: value } as DecodedFrame;
}

/**
 * Incremental decoder: feed it whatever the socket delivers (split, coalesced), get whole frames.
 * Holds at most one partial frame (≤ maxFrameBytes + 4 bytes).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1; // body length of the frame being assembled, -1 = prefix not read yet
  private firstFrame = true;

  /** `firstFrameMaxBytes` (default: maxFrameBytes) bounds the first frame only (the handshake). */
  constructor(
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    private readonly firstFrameMaxBytes = maxFrameBytes,
  ) {}

  /** Bytes currently held for an incomplete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds bytes; returns the complete frames they finish. Throws a typed CosignerError on bad input. */
  push(chunk: Buffer): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    if (chunk.length === 0) return out;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) return out;
        const len = this.peekPrefix();
        const limit = this.firstFrame ? Math.min(this.firstFrameMaxBytes, this.maxFrameBytes) : this.maxFrameBytes;
        if (len > limit) {
          throw new CosignerError('ERR_FRAME_TOO_LARGE', `incoming ${this.firstFrame ? 'first ' : ''}frame of ${len} bytes exceeds the limit of ${limit}`);
        }
        this.firstFrame = false;
        this.consume(4);
        this.need = len;
      }
      if (this.buffered < this.need) return out;
      if (this.need >= FAST_PATH_MIN) {
        const d = parseDataFrameHeader(this.peek(20), this.need);
        if (d) {
          // Tunnel payload: hand on slices of what the socket delivered, no copy, no allocation.
          this.take(d.headerLength);
          const length = this.need - d.headerLength;
          const parts = this.takeParts(length);
          this.need = -1;
          out.push({ streamId: d.streamId, kind: 'data', parts, length } as unknown as DecodedFrame);
          continue;
        }
      }
      const body = this.take(this.need);
      this.need = -1;
      out.push(decodeFrameBody(body));
    }
  }

  /** Call at end of input: a partial frame left over is ERR_FRAME_TRUNCATED. */
  end(): void {
    if (this.buffered > 0 || this.need > 0) {
      const held = this.buffered;
      this.chunks = [];
      this.buffered = 0;
      this.need = -1;
      throw new CosignerError('ERR_FRAME_TRUNCATED', `connection ended inside a frame (${held} bytes pending)`);
    }
  }

  private peekPrefix(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    let v = 0;
    let got = 0;
    for (const c of this.chunks) {
      for (let i = 0; i < c.length && got < 4; i++, got++) v = v * 256 + c[i]!;
      if (got === 4) break;
    }
    return v;
  }

  /** Up to n bytes from the front, without consuming them (copied only when they span chunks). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n || this.chunks.length === 1) return first.subarray(0, n);
    const out: Buffer[] = [];
    let got = 0;
    for (const c of this.chunks) {
      out.push(c.subarray(0, n - got));
      got += Math.min(c.length, n - got);
      if (got >= n) break;
    }
    return Buffer.concat(out);
  }

  private takeParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        parts.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        parts.push(c.subarray(0, left));
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.buffered -= n;
    return parts;
  }

  private consume(n: number): void {
    this.take(n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    // The frame spans chunks: copy exactly its n bytes (never the whole backlog) into one buffer.
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
