import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { FrameDecoder, HANDSHAKE_MAX_FRAME_BYTES, decodeFrameBody, encodeDataFrameHeader, encodeFrame, parseDataFrameHeader } from '../../../proto/runtime/framing.ts';
import { TO_OBJECT, loadSchema } from '../../../proto/runtime/schema.ts';

// A value for every field so the round trip covers each field of each message.
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const seenOneofs = new Set<string>();
  for (const f of type.fieldsArray) {
    if (f.partOf) {
      if (seenOneofs.has(f.partOf.name)) continue;
      seenOneofs.add(f.partOf.name);
    }
    const v = scalar(f, depth);
    if (v === undefined) continue;
    if (f.map) out[f.name] = { k1: v };
    else out[f.name] = f.repeated ? [v, v] : v;
  }
  return out;
}

function scalar(f: protobuf.Field, depth: number): unknown {
  if (f.resolvedType instanceof protobuf.Enum) return Object.keys(f.resolvedType.values)[1] ?? Object.keys(f.resolvedType.values)[0];
  if (f.resolvedType instanceof protobuf.Type) return depth < 3 ? sample(f.resolvedType, depth + 1) : undefined;
  switch (f.type) {
    case 'string':
      return 'sample-ü';
    case 'bytes':
      return new Uint8Array([0, 1, 255]);
    case 'bool':
      return true;
    case 'uint64':
    case 'fixed64':
      return (1n << 63n) + 5n;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return -(1n << 40n);
    case 'double':
    case 'float':
      return 1.5;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return -7;
    default:
      return 7;
  }
}

function allTypes(ns: protobuf.NamespaceBase): protobuf.Type[] {
  const out: protobuf.Type[] = [];
  for (const n of ns.nestedArray) {
    if (n instanceof protobuf.Type) out.push(n, ...allTypes(n));
    else if (n instanceof protobuf.Namespace) out.push(...allTypes(n));
  }
  return out;
}

const GOLDEN_HANDSHAKE = '0000002512230801120c676f6c64656e2d6275696c641a06706172656e742080804028800830808010';

describe('codec', () => {
  const schema = loadSchema();

  it('round-trips every message of every loaded .proto', () => {
    const types = allTypes(schema.root);
    expect(types.length).toBeGreaterThan(20);
    for (const t of types) {
      const obj = sample(t);
      const bytes = t.encode(t.fromObject(obj)).finish();
      const back = t.toObject(t.decode(bytes), { ...TO_OBJECT, defaults: false, oneofs: false });
      const again = t.encode(t.fromObject(back)).finish();
      expect(Buffer.from(again).equals(Buffer.from(bytes)), t.fullName).toBe(true);
    }
  });

  it('round-trips every Frame variant through the length-prefixed encoding', () => {
    const variants = schema.Frame.oneofs.kind!.fieldsArray;
    expect(variants.length).toBe(13);
    for (const f of variants) {
      const inner = sample(f.resolvedType as protobuf.Type);
      const msg = schema.Frame.fromObject({ streamId: 9, [f.name]: inner });
      const buf = encodeFrame(msg as unknown as Record<string, unknown>);
      expect(buf.readUInt32BE(0)).toBe(buf.length - 4);
      const d = new FrameDecoder().push(buf);
      expect(d).toHaveLength(1);
      expect(d[0]!.kind).toBe(f.name);
      expect(d[0]!.streamId).toBe(9);
      // Same content as protobufjs's own decoding of the whole Frame.
      const innerType = f.resolvedType as protobuf.Type;
      const reference = schema.Frame.decode(buf.subarray(4)) as unknown as Record<string, protobuf.Message>;
      expect(innerType.toObject(d[0]![f.name] as protobuf.Message, TO_OBJECT)).toEqual(innerType.toObject(reference[f.name]!, TO_OBJECT));
    }
  });

  it('pins the bytes of a handshake frame', () => {
    const buf = encodeFrame({
      streamId: 0,
      handshake: { protocolVersion: 1, buildId: 'golden-build', role: 'parent', maxFrameBytes: 1048576, maxConcurrentStreams: 1024, initialWindow: 262144 },
    });
    expect(buf.toString('hex')).toBe(GOLDEN_HANDSHAKE);
    expect(buf.length).toBe(41);
  });

  it('refuses to encode a frame above the limit', () => {
    expect(() => encodeFrame({ streamId: 1, data: { data: Buffer.alloc(2048) } }, 1024)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });
});

describe('FrameDecoder', () => {
  const frames = [
    encodeFrame({ streamId: 0, ping: { nonce: 1 } }),
    encodeFrame({ streamId: 3, data: { data: Buffer.alloc(3000, 7) } }),
    Buffer.from(GOLDEN_HANDSHAKE, 'hex'),
  ];
  const all = Buffer.concat(frames);

  it('handles frames split at every byte boundary and coalesced', () => {
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder();
      const got = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      expect(got.map((f) => f.kind)).toEqual(['ping', 'data', 'handshake']);
      expect(d.pendingBytes).toBe(0);
    }
  });

  it('handles byte-at-a-time delivery', () => {
    const d = new FrameDecoder();
    const got = [];
    for (const b of all) got.push(...d.push(Buffer.from([b])));
    expect(got.map((f) => f.kind)).toEqual(['ping', 'data', 'handshake']);
    expect(Buffer.concat(got[1]!.parts!).equals(Buffer.alloc(3000, 7))).toBe(true);
  });

  it('bounds the first frame (the handshake) far below the frame limit, and only the first', () => {
    const d = new FrameDecoder(1 << 20, HANDSHAKE_MAX_FRAME_BYTES);
    const big = Buffer.alloc(4);
    big.writeUInt32BE(HANDSHAKE_MAX_FRAME_BYTES + 1, 0);
    expect(() => d.push(big)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
    const ok = new FrameDecoder(1 << 20, HANDSHAKE_MAX_FRAME_BYTES);
    const first = encodeFrame({ streamId: 0, ping: { nonce: 1 } });
    const second = encodeFrame({ streamId: 1, request: { method: 'x', payload: Buffer.alloc(64 * 1024) } });
    expect(ok.push(Buffer.concat([first, second])).map((f) => f.kind)).toEqual(['ping', 'request']);
  });

  it('rejects an oversize length prefix before buffering the body', () => {
    const d = new FrameDecoder(1024);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(1025, 0);
    expect(() => d.push(prefix)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    expect(() => new FrameDecoder().push(huge)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('reports a truncated frame at end of input', () => {
    const d = new FrameDecoder();
    d.push(frames[1]!.subarray(0, 100));
    expect(() => d.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED' }));
    const p = new FrameDecoder();
    p.push(Buffer.from([0, 0]));
    expect(() => p.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED' }));
    expect(() => new FrameDecoder().end()).not.toThrow();
  });

  it('rejects a body that is not a Frame, or a Frame without a kind', () => {
    expect(() => decodeFrameBody(Buffer.from([0xff, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    expect(() => decodeFrameBody(Buffer.from([0x08, 0x01]))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0]))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
  });

  it('turns 10,000 random inputs into frames or typed errors only', () => {
    const codes = new Set(['ERR_FRAME_TOO_LARGE', 'ERR_FRAME_MALFORMED', 'ERR_FRAME_TRUNCATED']);
    let typed = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }),
          // Valid prefix + random body: exercises the protobuf decoder rather than the length check.
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b])),
          // A real frame with random bytes flipped.
          fc.tuple(fc.nat(all.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
            const c = Buffer.from(all);
            c[i] = v;
            return c;
          }),
        ),
        fc.nat(300),
        (bytes, cut) => {
          const d = new FrameDecoder(4096);
          const buf = Buffer.from(bytes);
          try {
            d.push(buf.subarray(0, cut));
            d.push(buf.subarray(cut));
            d.end();
          } catch (err) {
            if (!(err instanceof CosignerError) || !codes.has(err.code)) throw err;
            typed++;
          }
        },
      ),
      { numRuns: 10_000, seed: 20261123 },
    );
    expect(typed).toBeGreaterThan(1000);
  });
});

describe('StreamData fast path', () => {
  const Frame = loadSchema().Frame;

  it('writes exactly the bytes protobufjs writes, and reads them back the same way', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.integer({ min: 0, max: 70_000 }), fc.nat(70_100), (id, len, cut) => {
        const payload = Buffer.alloc(len, id & 0xff);
        const header = encodeDataFrameHeader(id, len);
        const ours = Buffer.concat([header, payload]);
        expect(ours.equals(encodeFrame({ streamId: id, data: { data: payload } }))).toBe(true);
        const d = new FrameDecoder();
        const frames = [...d.push(ours.subarray(0, cut)), ...d.push(ours.subarray(cut))];
        expect(frames).toHaveLength(1);
        const f = frames[0]!;
        expect(f.kind).toBe('data');
        expect(f.streamId).toBe(id);
        const got = f.parts ? Buffer.concat(f.parts) : Buffer.from(f.data.data);
        expect(got.equals(payload)).toBe(true);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('leaves any other layout to the general decoder', () => {
    const payload = Buffer.alloc(1000, 1);
    // Same frame with the fields in another order: valid protobuf, not the fast-path layout.
    const inner = Buffer.concat([Buffer.from([0x0a, 0xe8, 0x07]), payload]);
    const body = Buffer.concat([Buffer.from([0x42, 0xeb, 0x07]), inner, Buffer.from([0x08, 0x05])]);
    expect(parseDataFrameHeader(body, body.length)).toBeNull();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(body.length, 0);
    const [f] = new FrameDecoder().push(Buffer.concat([prefix, body]));
    expect(f!.parts).toBeUndefined();
    expect(f!.streamId).toBe(5);
    expect(Buffer.from(f!.data.data).equals(payload)).toBe(true);
    // Lengths that do not add up are not taken by the fast path either.
    const h = encodeDataFrameHeader(3, 500).subarray(4);
    expect(parseDataFrameHeader(h, h.length + 499)).toBeNull();
    expect(parseDataFrameHeader(h, h.length + 501)).toBeNull();
    expect(parseDataFrameHeader(h, h.length + 500)).toEqual({ streamId: 3, headerLength: h.length });
    expect(Frame.decode(Buffer.concat([h, Buffer.alloc(500)]))).toMatchObject({ streamId: 3 });
  });
});
