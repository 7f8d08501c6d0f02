// Every identifier (tag) byte of real envelopes, mutated to every other value, must be refused with a
// typed error. Before the tag check (enclave/kms/cms-shape.ts) 186 of these mutations of the
// OpenSSL-made envelope still opened — the ASN.1 library matches by position — while
// `openssl cms -decrypt` refused all of them (checked with OpenSSL 3.0 while writing this test).
import { describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openEnvelope, parseEnvelope } from '../../../enclave/kms/open-envelope.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/cms');
const fx = (f: string): Buffer => readFileSync(path.join(fixtures, f));
const recipientKey = createPrivateKey(fx('openssl-recipient-key.pem'));
const PLAINTEXT = Buffer.alloc(32, 0x11);

/**
 * Offsets of every identifier byte in a BER element tree, end-of-contents markers included (their
 * first 0x00 is a tag too). Written independently of enclave/kms/ber.ts so the test does not trust
 * the walker it is testing.
 */
function tagOffsets(der: Uint8Array): number[] {
  const out: number[] = [];
  const walk = (pos: number): number => {
    out.push(pos);
    const tag = der[pos]!;
    let p = pos + 1;
    const first = der[p++]!;
    if (first === 0x80) {
      while (!(der[p] === 0 && der[p + 1] === 0)) p = walk(p);
      out.push(p);
      return p + 2;
    }
    let len = first;
    if (first & 0x80) {
      len = 0;
      for (let n = first & 0x7f; n > 0; n--) len = len * 256 + der[p++]!;
    }
    const end = p + len;
    if (tag & 0x20) while (p < end) p = walk(p);
    return end;
  };
  expect(walk(0)).toBe(der.length);
  return out;
}

/** Runs `open` on every single-byte mutation of every tag byte; returns what was not refused with ERR_CMS_MALFORMED. */
function survivors(good: Buffer, open: (b: Buffer) => unknown): string[] {
  const out: string[] = [];
  for (const at of tagOffsets(good)) {
    for (let value = 0; value < 256; value++) {
      if (value === good[at]) continue;
      const bad = Buffer.from(good);
      bad[at] = value;
      try {
        open(bad);
        out.push(`offset ${at}: 0x${value.toString(16)} opened`);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ERR_CMS_MALFORMED') out.push(`offset ${at}: 0x${value.toString(16)} threw ${String(err)}`);
      }
    }
  }
  return out;
}

describe('CMS tag bytes: every single-byte mutation is refused', () => {
  it('OpenSSL-made envelopes (32- and 20-byte subjectKeyIdentifier) open unmodified, and no tag mutation opens', () => {
    for (const f of ['openssl-ski32.der', 'openssl-ski20.der']) {
      const good = fx(f);
      expect(openEnvelope(good, recipientKey).equals(PLAINTEXT)).toBe(true);
      expect(tagOffsets(good).length).toBe(27);
      expect(survivors(good, (b) => openEnvelope(b, recipientKey))).toEqual([]);
    }
  });

  it('real KMS envelopes (BER, indefinite lengths; chunked and primitive content) parse unmodified, and no tag mutation parses', () => {
    for (const f of ['kms_cms_input_ber.bin', 'kms_cms_input_ber_w_ctx.bin']) {
      const good = fx(f);
      expect(parseEnvelope(good).ciphertext.length).toBeGreaterThan(0);
      // No private key exists for these: refusing at parse time is the whole check.
      expect(survivors(good, parseEnvelope)).toEqual([]);
    }
  });

  it('the specific mutations the library used to accept: context, application and private class in place of SEQUENCE/SET/OID', () => {
    const good = fx('openssl-ski32.der');
    // 0: ContentInfo SEQUENCE; 26: recipientInfos SET; 389/402: the content-encryption OIDs' SEQUENCE and OID.
    for (const [at, value] of [[0, 0xa0], [0, 0x70], [0, 0xf0], [26, 0x30], [26, 0xb1], [402, 0x46], [389, 0xb0]] as const) {
      const bad = Buffer.from(good);
      bad[at] = value;
      expect(() => openEnvelope(bad, recipientKey)).toThrow(expect.objectContaining({ code: 'ERR_CMS_MALFORMED' }));
    }
  });
});

describe('subjectKeyIdentifier length', () => {
  it('an envelope with OpenSSL’s default 20-byte identifier opens (the identifier is never used)', () => {
    const parsed = parseEnvelope(fx('openssl-ski20.der'));
    expect(parsed.recipientKeyId.length).toBe(20);
    expect(openEnvelope(parsed, recipientKey).equals(PLAINTEXT)).toBe(true);
  });
});
