// Runs in the enclave and in the reference coordinator. The compact binary payloads of the DKLs23
// protocol messages: version byte, type byte, then fixed-size fields (points 33-byte compressed,
// scalars 32-byte big-endian) and, last, at most one OT-layer blob whose bytes only the OT layer
// reads. Every decoder checks the exact length; a malformed message blames its sender.
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { cheated, N, Point, type PointT } from './common.ts';

export const CODEC_VERSION = 1;
export const POINT_BYTES = 33;
export const SCALAR_BYTES = 32;
export const HASH_BYTES = 32;
/**
 * Largest OT-layer blob in one message. The coordinator frame is 256 KiB and carries payloads
 * base64-encoded (×4/3), so one message stays below 192 KiB of bytes with its header.
 */
export const MAX_OT_BYTES = 180 * 1024;

/** Message types (the byte after the version). */
export const T = {
  dkgRound1: 0x01,
  dkgRound2: 0x02,
  setup: 0x03,
  refreshRound1: 0x11,
  refreshShare: 0x12,
  signCommit: 0x21,
  signMsg1: 0x22,
  signRound2: 0x23,
  signRound3: 0x24,
} as const;

export function encode(type: number, ...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(2 + parts.reduce((n, p) => n + p.length, 0));
  out[0] = CODEC_VERSION;
  out[1] = type;
  let o = 2;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Reads one payload field by field; any deviation blames `from`. */
export class Reader {
  private offset = 2;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly from: number,
    type: number,
  ) {
    if (bytes.length < 2) throw cheated(from, 'length');
    if (bytes[0] !== CODEC_VERSION) throw cheated(from, 'version');
    if (bytes[1] !== type) throw cheated(from, 'message-type');
  }

  fixed(n: number): Uint8Array {
    if (this.offset + n > this.bytes.length) throw cheated(this.from, 'length');
    const out = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** A valid curve point, never the identity (a 33-byte encoding cannot be the identity). */
  point(): PointT {
    const b = this.fixed(POINT_BYTES);
    try {
      const p = Point.fromBytes(b);
      p.assertValidity();
      if (p.is0()) throw new Error('identity');
      return p;
    } catch {
      throw cheated(this.from, 'point');
    }
  }

  /** A canonical scalar (< n; zero allowed where the protocol allows it). */
  scalar(): bigint {
    const x = bytesToNumberBE(this.fixed(SCALAR_BYTES));
    if (x >= N) throw cheated(this.from, 'scalar');
    return x;
  }

  /** The rest: the OT-layer blob, 1..MAX_OT_BYTES bytes. */
  rest(): Uint8Array {
    const n = this.bytes.length - this.offset;
    if (n < 1 || n > MAX_OT_BYTES) throw cheated(this.from, 'length');
    return this.fixed(n);
  }

  end(): void {
    if (this.offset !== this.bytes.length) throw cheated(this.from, 'length');
  }
}
