import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnvelope, openEnvelope, MAX_ENVELOPE_BYTES } from '../../../enclave/kms/open-envelope.ts';
import { checkBer } from '../../../enclave/kms/ber.ts';
import { buildEnvelope } from '../../../local/kms/cms.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// Copies of the shared kms-cms vectors (see test/fixtures/cms/README.md).
const vectors = path.resolve(repoRoot, 'test', 'fixtures', 'cms');
const v = (f: string): Buffer => readFileSync(path.join(vectors, f));
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect((err as { code?: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('parseEnvelope on real KMS output', () => {
  it('parses the BER envelope with constructed OCTET STRING chunks', () => {
    const p = parseEnvelope(v('kms_cms_input_ber.bin'));
    expect(Buffer.from(p.encryptedKey).equals(v('kms_cms_encrypted_key_out.bin'))).toBe(true);
    expect(Buffer.from(p.iv).equals(v('kms_cms_iv_out.bin'))).toBe(true);
    expect(Buffer.from(p.ciphertext).equals(v('kms_cms_ciphertext_out.bin'))).toBe(true);
    expect(p.recipientKeyId.length).toBe(32);
  });
  it('parses the envelope whose content is a primitive [0]', () => {
    const p = parseEnvelope(v('kms_cms_input_ber_w_ctx.bin'));
    expect(Buffer.from(p.encryptedKey).equals(v('kms_cms_encrypted_key_out_w_ctx.bin'))).toBe(true);
    expect(Buffer.from(p.iv).equals(v('kms_cms_iv_out_w_ctx.bin'))).toBe(true);
    expect(Buffer.from(p.ciphertext).equals(v('kms_cms_ciphertext_out_w_ctx.bin'))).toBe(true);
  });
  it('cannot be opened without the recipient key', () => {
    expectCode(() => openEnvelope(v('kms_cms_input_ber.bin'), keys.privateKey), 'ERR_CMS_MALFORMED');
  });
});

describe('openEnvelope round trip with the stand-in builder', () => {
  const secret = Buffer.alloc(32, 0x5a);
  it('opens one-chunk, many-chunk and primitive shapes', () => {
    for (const opts of [{}, { chunkSize: 16 }, { primitiveContent: true }]) {
      const env = buildEnvelope(secret, keys.publicKey, opts);
      expect(openEnvelope(env, keys.privateKey).equals(secret)).toBe(true);
    }
  });
  it('rejects the wrong private key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expectCode(() => openEnvelope(buildEnvelope(secret, keys.publicKey), other.privateKey), 'ERR_CMS_MALFORMED');
  });
});

describe('parseEnvelope rejects', () => {
  const good = v('kms_cms_input_ber.bin');
  const patch = (needleHex: string, replHex: string): Buffer => {
    const s = good.toString('hex');
    const i = s.indexOf(needleHex);
    if (i < 0 || i % 2) throw new Error('needle not found');
    return Buffer.from(s.slice(0, i) + replHex + s.slice(i + needleHex.length), 'hex');
  };
  it('oversized input', () => {
    expectCode(() => parseEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1)), 'ERR_CMS_MALFORMED');
  });
  it('empty, truncated and trailing bytes', () => {
    expectCode(() => parseEnvelope(new Uint8Array(0)), 'ERR_CMS_MALFORMED');
    expectCode(() => parseEnvelope(good.subarray(0, good.length - 2)), 'ERR_CMS_MALFORMED');
    expectCode(() => parseEnvelope(Buffer.concat([good, Buffer.from([0])])), 'ERR_CMS_MALFORMED');
  });
  it('wrong content type OID (signedData)', () => {
    expectCode(() => parseEnvelope(patch('06092a864886f70d010703', '06092a864886f70d010702')), 'ERR_CMS_MALFORMED');
  });
  it('wrong EnvelopedData version', () => {
    expectCode(() => parseEnvelope(patch('3080020102', '3080020100')), 'ERR_CMS_MALFORMED');
  });
  it('wrong KeyTransRecipientInfo version', () => {
    expectCode(() => parseEnvelope(patch('3082016702010280', '3082016702010080')), 'ERR_CMS_MALFORMED');
  });
  it('key encryption not OAEP (rsaEncryption)', () => {
    expectCode(() => parseEnvelope(patch('06092a864886f70d010107', '06092a864886f70d010101')), 'ERR_CMS_MALFORMED');
  });
  it('OAEP with SHA-1 hash', () => {
    // hash sha256 → sha384 OID in the hashAlgorithm slot (changes the params bytes)
    expectCode(() => parseEnvelope(patch('a00f300d06096086480165030402010500', 'a00f300d06096086480165030402020500')), 'ERR_CMS_MALFORMED');
  });
  it('content cipher not AES-256-CBC (AES-128-CBC)', () => {
    expectCode(() => parseEnvelope(patch('060960864801650304012a', '0609608648016503040102')), 'ERR_CMS_MALFORMED');
  });
  it('two recipients', () => {
    const s = good.toString('hex');
    const start = s.indexOf('3182016b');
    const ktri = s.slice(start + 8, start + 8 + 0x16b * 2);
    const two = s.slice(0, start) + '318202d6' + ktri + ktri + s.slice(start + 8 + 0x16b * 2);
    expectCode(() => parseEnvelope(Buffer.from(two, 'hex')), 'ERR_CMS_MALFORMED');
  });
  it('deep nesting and indefinite primitive in the BER walker', () => {
    const deep = Buffer.concat([Buffer.alloc(0), ...Array.from({ length: 40 }, () => Buffer.from([0x30, 0x80])), ...Array.from({ length: 40 }, () => Buffer.from([0, 0]))]);
    expectCode(() => checkBer(deep), 'ERR_CMS_MALFORMED');
    expectCode(() => checkBer(Buffer.from([0x04, 0x80, 0x00, 0x00])), 'ERR_CMS_MALFORMED');
    expectCode(() => checkBer(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), 'ERR_CMS_MALFORMED');
  });
  it('random corruption never throws anything but ERR_CMS_MALFORMED', () => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(good);
      b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        parseEnvelope(b);
      } catch (err) {
        expect((err as { code?: string }).code).toBe('ERR_CMS_MALFORMED');
      }
    }
  });
});

describe('parser properties (fast-check)', () => {
  it('arbitrary bytes: parse succeeds or throws ERR_CMS_MALFORMED, nothing else', async () => {
    const fc = await import('fast-check');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        try {
          parseEnvelope(bytes);
        } catch (err) {
          return (err as { code?: string }).code === 'ERR_CMS_MALFORMED';
        }
        return true;
      }),
      { numRuns: 500, seed: 42 },
    );
  });
  it('valid envelopes with random chunking always parse back to the same ciphertext', async () => {
    const fc = await import('fast-check');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 64 }), (pt, chunk) => {
        const env = buildEnvelope(Buffer.from(pt), keys.publicKey, { chunkSize: chunk });
        return openEnvelope(env, keys.privateKey).equals(Buffer.from(pt));
      }),
      { numRuns: 25, seed: 7 },
    );
  });
});
