import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3ConditionalObjects, type S3Sender } from '../../../parent/storage/s3-conditional-objects.ts';

/** A fake S3 client: records each command's input and answers with `reply`. */
function fakeS3(reply: (cmd: unknown) => unknown): { client: S3Sender; sent: Array<{ type: string; input: Record<string, unknown> }> } {
  const sent: Array<{ type: string; input: Record<string, unknown> }> = [];
  const client = {
    send: async (cmd: { input: Record<string, unknown> }) => {
      sent.push({ type: cmd.constructor.name, input: cmd.input });
      const r = reply(cmd);
      if (r instanceof Error) throw r;
      return r;
    },
  } as unknown as S3Sender;
  return { client, sent };
}

function awsError(name: string, httpStatusCode: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode } });
}

describe('S3ConditionalObjects', () => {
  it('creates with If-None-Match: * and replaces with If-Match, under the prefix', async () => {
    const { client, sent } = fakeS3(() => ({ ETag: '"e2"' }));
    const s3 = new S3ConditionalObjects({ client, bucket: 'b', prefix: 'cosigner/' });
    expect(await s3.putIfAbsent('lease.json', Buffer.from('x'))).toBe('"e2"');
    expect(await s3.putIfMatch('lease.json', Buffer.from('y'), '"e1"')).toBe('"e2"');
    expect(sent[0]).toMatchObject({ type: PutObjectCommand.name, input: { Bucket: 'b', Key: 'cosigner/lease.json', IfNoneMatch: '*' } });
    expect(sent[0]!.input.IfMatch).toBeUndefined();
    expect(sent[1]).toMatchObject({ type: PutObjectCommand.name, input: { Bucket: 'b', Key: 'cosigner/lease.json', IfMatch: '"e1"' } });
    expect(sent[1]!.input.IfNoneMatch).toBeUndefined();
  });

  it('maps 412 PreconditionFailed and 409 ConditionalRequestConflict to exists / changed', async () => {
    for (const err of [awsError('PreconditionFailed', 412), awsError('ConditionalRequestConflict', 409)]) {
      const s3 = new S3ConditionalObjects({ client: fakeS3(() => err).client, bucket: 'b' });
      expect(await s3.putIfAbsent('k', Buffer.from('x'))).toBe('exists');
      expect(await s3.putIfMatch('k', Buffer.from('x'), '"e"')).toBe('changed');
    }
  });

  it('If-Match on a key that is gone is changed; If-None-Match never maps 404 to exists', async () => {
    const s3 = new S3ConditionalObjects({ client: fakeS3(() => awsError('NoSuchKey', 404)).client, bucket: 'b' });
    expect(await s3.putIfMatch('k', Buffer.from('x'), '"e"')).toBe('changed');
    await expect(s3.putIfAbsent('k', Buffer.from('x'))).rejects.toMatchObject({ code: 'ERR_STORAGE' });
  });

  it('any other failure is ERR_STORAGE, never a lost race', async () => {
    for (const err of [awsError('AccessDenied', 403), awsError('InternalError', 500), new Error('socket hang up')]) {
      const s3 = new S3ConditionalObjects({ client: fakeS3(() => err).client, bucket: 'b' });
      await expect(s3.putIfMatch('k', Buffer.from('x'), '"e"')).rejects.toMatchObject({ code: 'ERR_STORAGE' });
      await expect(s3.putIfAbsent('k', Buffer.from('x'))).rejects.toMatchObject({ code: 'ERR_STORAGE' });
      await expect(s3.get('k')).rejects.toMatchObject({ code: 'ERR_STORAGE' });
    }
  });

  it('a successful write without an ETag is refused', async () => {
    const s3 = new S3ConditionalObjects({ client: fakeS3(() => ({})).client, bucket: 'b' });
    await expect(s3.putIfAbsent('k', Buffer.from('x'))).rejects.toMatchObject({ code: 'ERR_STORAGE' });
  });

  it('get returns body and etag, null for a missing key, and refuses an oversized object', async () => {
    const body = Buffer.from('{"v":1}');
    const { client, sent } = fakeS3(() => ({ ETag: '"e1"', ContentLength: body.length, Body: { transformToByteArray: async () => Uint8Array.from(body) } }));
    const s3 = new S3ConditionalObjects({ client, bucket: 'b', prefix: 'p/' });
    const got = await s3.get('k');
    expect(got?.etag).toBe('"e1"');
    expect(Buffer.from(got!.body).toString()).toBe('{"v":1}');
    expect(sent[0]).toMatchObject({ type: GetObjectCommand.name, input: { Bucket: 'b', Key: 'p/k' } });
    expect(await new S3ConditionalObjects({ client: fakeS3(() => awsError('NoSuchKey', 404)).client, bucket: 'b' }).get('k')).toBeNull();
    const big = new S3ConditionalObjects({ client: fakeS3(() => ({ ETag: '"e"', ContentLength: 1 << 20, Body: { transformToByteArray: async () => new Uint8Array(1 << 20) } })).client, bucket: 'b' });
    await expect(big.get('k')).rejects.toMatchObject({ code: 'ERR_STORAGE' });
  });
});
