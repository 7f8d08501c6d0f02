import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuthChannel, parseEnvelope, sealEnvelope } from '../../../proto/coordinator/envelope.ts';
import { FrameDecoder, MAX_FRAME_BYTES, encodeFrame } from '../../../proto/coordinator/framing.ts';

const client = generateKeyPairSync('ed25519');
const server = generateKeyPairSync('ed25519');

function pair(conn = 'c0ffee') {
  return {
    c: new AuthChannel(client.privateKey, server.publicKey, 'c2s', conn),
    s: new AuthChannel(server.privateKey, client.publicKey, 's2c', conn),
  };
}

describe('authenticated envelopes', () => {
  it('round-trips in order both ways', () => {
    const { c, s } = pair();
    expect(s.open(c.seal('dkg.round1', 'r1', { a: 1 }))).toEqual({ a: 1 });
    expect(s.open(c.seal('dkg.round2', 'r2', { b: 2 }))).toEqual({ b: 2 });
    expect(c.open(s.seal('reply', 'r1', { ok: true }))).toEqual({ ok: true });
  });

  it('rejects a replayed, reordered, reflected, cross-connection or tampered envelope', () => {
    const { c, s } = pair();
    const e1 = c.seal('ping', 'a', {});
    const e2 = c.seal('ping', 'b', {});
    expect(() => s.open(e2)).toThrow(expect.objectContaining({ code: 'ERR_COORDINATOR_AUTH' })); // out of order
    s.open(e1);
    expect(() => s.open(e1)).toThrow(expect.objectContaining({ code: 'ERR_COORDINATOR_AUTH' })); // replay
    s.open(e2);
    expect(() => c.open(c.seal('ping', 'x', {}))).toThrow(expect.objectContaining({ code: 'ERR_COORDINATOR_AUTH' })); // own message reflected
    const other = pair('another-conn');
    expect(() => other.s.open(c.seal('ping', 'y', {}))).toThrow(expect.objectContaining({ code: 'ERR_COORDINATOR_AUTH' }));
    const fresh = pair();
    const good = fresh.c.seal('sign.share', 'z', { share: '00' });
    expect(() => fresh.s.open({ ...good, body: '{"share":"01"}' })).toThrow(expect.objectContaining({ code: 'ERR_COORDINATOR_AUTH' }));
    expect(() => fresh.s.open({ ...good, type: 'sign.abort' })).toThrow(expect.objectContaining({ code: 'ERR_COORDINATOR_AUTH' }));
    const forged = sealEnvelope(generateKeyPairSync('ed25519').privateKey, { dir: 'c2s', conn: 'c0ffee', seq: 1, type: 'ping', id: 'q', body: '{}' });
    expect(() => fresh.s.open(forged)).toThrow(expect.objectContaining({ code: 'ERR_COORDINATOR_AUTH' }));
  });

  it('parses strictly and bounds frames', () => {
    const { c } = pair();
    const e = c.seal('ping', 'a', {});
    expect(parseEnvelope(JSON.parse(JSON.stringify(e)))).toEqual(e);
    expect(() => parseEnvelope({ ...e, extra: 1 })).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    expect(() => parseEnvelope({ ...e, seq: -1 })).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    expect(() => parseEnvelope({ ...e, type: 'BAD TYPE' })).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    const d = new FrameDecoder();
    const f = encodeFrame({ hello: 'world' });
    expect(d.push(f.subarray(0, 3))).toEqual([]);
    expect(d.push(Buffer.concat([f.subarray(3), f]))).toEqual([{ hello: 'world' }, { hello: 'world' }]);
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(() => new FrameDecoder().push(huge)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{x')]);
    expect(() => new FrameDecoder().push(notJson)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
  });
});
