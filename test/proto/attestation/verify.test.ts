import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { decodeCoseSign1, decodePayload, encodeCoseSign1, encodePayload, type AttestationPayload } from '../../../proto/attestation/document.ts';
import { AWS_NITRO_ROOT_G1_PEM, checkAttestation, verifyAttestation } from '../../../proto/attestation/verify.ts';
import { extendFromZero } from '../../../proto/attestation/measure.ts';
import { AWS_ROOT_PEM_FILE, EVERVAULT_SIGNED, hex, REAL_DOCS, SEQUENCE_PROD, SUI_DEBUG } from './vectors.ts';

const HOUR = 3_600_000;

function codes(doc: Uint8Array, opts: Parameters<typeof checkAttestation>[1]): string[] {
  return checkAttestation(doc, opts).failures.map((f) => f.code);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CosignerError) return err.code;
    throw err;
  }
  throw new Error('expected a CosignerError');
}

/** Re-encodes a real document with a modified payload but its ORIGINAL signature. */
function withPayload(doc: Uint8Array, edit: (p: AttestationPayload) => AttestationPayload): Uint8Array {
  const cose = decodeCoseSign1(doc);
  return encodeCoseSign1(cose.protectedBytes, encodePayload(edit(decodePayload(cose.payload))), cose.signature);
}

describe('real AWS documents', () => {
  it('the embedded root is byte-identical to the published one', () => {
    expect(AWS_NITRO_ROOT_G1_PEM.trim()).toBe(readFileSync(AWS_ROOT_PEM_FILE, 'utf8').trim());
  });

  for (const d of REAL_DOCS) {
    describe(d.file, () => {
      it('verifies at its timestamp with the listed facts', () => {
        const att = verifyAttestation(d.bytes, { at: d.timestamp, allowDebug: d.debug, expectPcrs: d.pcrs });
        expect(att.timestamp).toBe(d.timestamp);
        expect(att.digest).toBe('SHA384');
        expect(att.debug).toBe(d.debug);
        expect([...att.pcrs.keys()]).toEqual([...Array(16).keys()]);
        for (const [i, v] of Object.entries(d.pcrs)) expect(hex(att.pcrs.get(Number(i)))).toBe(v);
        expect(att.cabundle).toHaveLength(4);
        // PCR4 = SHA-384(zeros ‖ instance id), the instance id being module_id's i-… prefix.
        const instanceId = att.moduleId.split('-enc')[0] as string;
        expect(hex(att.pcrs.get(4))).toBe(hex(extendFromZero(new TextEncoder().encode(instanceId))));
        if (d.moduleId) expect(att.moduleId).toBe(d.moduleId);
      });

      it('verifies at the other listed instants', () => {
        for (const at of d.alsoValidAt) expect(codes(d.bytes, { at, allowDebug: d.debug })).toEqual([]);
      });

      it('is expired 3 h later and not yet valid 3 h earlier', () => {
        expect(codeOf(() => verifyAttestation(d.bytes, { at: d.timestamp + 3 * HOUR, allowDebug: true }))).toBe('ERR_ATTESTATION_EXPIRED');
        expect(codeOf(() => verifyAttestation(d.bytes, { at: d.timestamp - 3 * HOUR, allowDebug: true }))).toBe('ERR_ATTESTATION_EXPIRED');
      });

      it('is expired now (default instant)', () => {
        expect(codes(d.bytes, { allowDebug: true })).toContain('ERR_ATTESTATION_EXPIRED');
      });

      it('re-encodes its payload byte for byte (pins the payload encoding)', () => {
        const cose = decodeCoseSign1(d.bytes);
        expect(hex(encodePayload(decodePayload(cose.payload)))).toBe(hex(cose.payload));
        expect(hex(encodeCoseSign1(cose.protectedBytes, cose.payload, cose.signature))).toBe(hex(d.bytes));
      });

      it('fails the chain when the last cabundle certificate is removed', () => {
        const doc = withPayload(d.bytes, (p) => ({ ...p, cabundle: p.cabundle.slice(0, -1) }));
        const c = codes(doc, { at: d.timestamp, allowDebug: true });
        expect(c).toContain('ERR_ATTESTATION_CHAIN');
        expect(c).toContain('ERR_ATTESTATION_SIGNATURE'); // the payload is signed, too
      });

      it('fails the chain when one byte of a cabundle certificate is zeroed', () => {
        for (let ci = 0; ci < 4; ci++) {
          const doc = withPayload(d.bytes, (p) => {
            const bundle = p.cabundle.map((c) => new Uint8Array(c));
            const cert = bundle[ci] as Uint8Array;
            cert[Math.floor(cert.length / 2)] = 0;
            return { ...p, cabundle: bundle };
          });
          expect(codes(doc, { at: d.timestamp, allowDebug: true })).toContain('ERR_ATTESTATION_CHAIN');
          expect(checkAttestation(doc, { at: d.timestamp, allowDebug: true }).ok).toBe(false);
        }
      });

      it('fails against a root that is not its own', () => {
        const other = `-----BEGIN CERTIFICATE-----\n${Buffer.from(decodePayload(decodeCoseSign1(d.bytes).payload).cabundle[1] as Uint8Array).toString('base64')}\n-----END CERTIFICATE-----\n`;
        expect(codeOf(() => verifyAttestation(d.bytes, { at: d.timestamp, allowDebug: true, roots: [{ pem: other }] }))).toBe('ERR_ATTESTATION_CHAIN');
      });
    });
  }

  it('rejects the debug document unless allowDebug', () => {
    expect(codeOf(() => verifyAttestation(SUI_DEBUG.bytes, { at: SUI_DEBUG.timestamp }))).toBe('ERR_ATTESTATION_DEBUG');
    expect(verifyAttestation(SUI_DEBUG.bytes, { at: SUI_DEBUG.timestamp, allowDebug: true }).debug).toBe(true);
  });

  it('carries the listed optional fields', () => {
    const sui = verifyAttestation(SUI_DEBUG.bytes, { at: SUI_DEBUG.timestamp, allowDebug: true });
    expect(sui.userData).toHaveLength(32);
    expect(sui.publicKey).toBeNull();
    expect(sui.nonce).toBeNull();
    const seq = verifyAttestation(SEQUENCE_PROD.bytes, { at: SEQUENCE_PROD.timestamp });
    expect(seq.publicKey).toHaveLength(294);
    const ev = verifyAttestation(EVERVAULT_SIGNED.bytes, { at: EVERVAULT_SIGNED.timestamp });
    expect(ev.userData).toHaveLength(120);
    expect(ev.nonce).toHaveLength(256);
  });
});

describe('expectations', () => {
  const ev = EVERVAULT_SIGNED;
  const fields = decodePayload(decodeCoseSign1(ev.bytes).payload);

  it('PCR mismatch, including an expected PCR the document lacks', () => {
    expect(codeOf(() => verifyAttestation(ev.bytes, { at: ev.timestamp, expectPcrs: { 0: SEQUENCE_PROD.pcrs[0] as string } }))).toBe('ERR_ATTESTATION_PCR_MISMATCH');
    expect(codeOf(() => verifyAttestation(ev.bytes, { at: ev.timestamp, expectPcrs: { 20: '00'.repeat(48) } }))).toBe('ERR_ATTESTATION_PCR_MISMATCH');
    expect(codes(ev.bytes, { at: ev.timestamp, expectPcrs: { 0: (ev.pcrs[0] as string).toUpperCase() } })).toEqual([]);
  });

  it('nonce must match', () => {
    expect(codes(ev.bytes, { at: ev.timestamp, nonce: fields.nonce as Uint8Array })).toEqual([]);
    const wrong = new Uint8Array(fields.nonce as Uint8Array);
    wrong[0] = (wrong[0] as number) ^ 1;
    expect(codeOf(() => verifyAttestation(ev.bytes, { at: ev.timestamp, nonce: wrong }))).toBe('ERR_ATTESTATION_NONCE');
    expect(codeOf(() => verifyAttestation(SEQUENCE_PROD.bytes, { at: SEQUENCE_PROD.timestamp, nonce: new Uint8Array(8) }))).toBe('ERR_ATTESTATION_NONCE');
  });

  it('user_data must match', () => {
    expect(codes(ev.bytes, { at: ev.timestamp, userData: fields.userData as Uint8Array })).toEqual([]);
    expect(codeOf(() => verifyAttestation(ev.bytes, { at: ev.timestamp, userData: (fields.userData as Uint8Array).subarray(1) }))).toBe('ERR_ATTESTATION_USER_DATA');
    expect(codeOf(() => verifyAttestation(SEQUENCE_PROD.bytes, { at: SEQUENCE_PROD.timestamp, userData: new Uint8Array(32) }))).toBe('ERR_ATTESTATION_USER_DATA');
  });

  it('max age: stale and future documents are refused', () => {
    expect(codes(ev.bytes, { at: ev.timestamp + 60_000, maxAgeMs: 120_000 })).toEqual([]);
    expect(codeOf(() => verifyAttestation(ev.bytes, { at: ev.timestamp + 600_000, maxAgeMs: 300_000 }))).toBe('ERR_ATTESTATION_STALE');
    // A timestamp ahead of `at` by more than the tolerated skew.
    expect(codes(ev.bytes, { at: ev.timestamp - 90_000, maxAgeMs: 300_000 })).toContain('ERR_ATTESTATION_STALE');
    expect(codes(ev.bytes, { at: ev.timestamp - 30_000, maxAgeMs: 300_000 })).not.toContain('ERR_ATTESTATION_STALE');
  });

  it('collects every failure in checkAttestation, throws the first in verifyAttestation', () => {
    const r = checkAttestation(SUI_DEBUG.bytes, { at: SUI_DEBUG.timestamp + 3 * HOUR, nonce: new Uint8Array(1), expectPcrs: { 0: SEQUENCE_PROD.pcrs[0] as string } });
    expect(r.ok).toBe(false);
    expect(r.doc).toBeUndefined();
    expect(r.fields?.moduleId).toBe(SUI_DEBUG.moduleId);
    expect(r.failures.map((f) => f.code)).toEqual(['ERR_ATTESTATION_EXPIRED', 'ERR_ATTESTATION_DEBUG', 'ERR_ATTESTATION_PCR_MISMATCH', 'ERR_ATTESTATION_NONCE']);
  });

  it('refuses invalid options', () => {
    expect(codeOf(() => verifyAttestation(ev.bytes, { expectPcrs: { 0: 'zz' } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyAttestation(ev.bytes, { expectPcrs: { 40: '00'.repeat(48) } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyAttestation(ev.bytes, { roots: [] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyAttestation(ev.bytes, { roots: [{ pem: 'not a pem' }] }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyAttestation(ev.bytes, { at: Number.NaN }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyAttestation(ev.bytes, { maxAgeMs: -1 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('structure', () => {
  const d = SEQUENCE_PROD;
  const at = d.timestamp;

  it('accepts COSE tag 18', () => {
    const tagged = new Uint8Array([0xd2, ...d.bytes]);
    expect(codes(tagged, { at })).toEqual([]);
  });

  it('rejects other tags, trailing bytes, empty and oversized input', () => {
    expect(codeOf(() => verifyAttestation(new Uint8Array([0xd8, 0x62, ...d.bytes]), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
    expect(codeOf(() => verifyAttestation(new Uint8Array([...d.bytes, 0x00]), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
    expect(codeOf(() => verifyAttestation(d.bytes.subarray(0, d.bytes.length - 1), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
    expect(codeOf(() => verifyAttestation(new Uint8Array(0), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
    expect(codeOf(() => verifyAttestation(new Uint8Array(0x3001), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
  });

  it('rejects a protected header other than {1: -35}', () => {
    const cose = decodeCoseSign1(d.bytes);
    const es256 = encodeCoseSign1(Uint8Array.of(0xa1, 0x01, 0x26), cose.payload, cose.signature);
    expect(codeOf(() => verifyAttestation(es256, { at }))).toBe('ERR_ATTESTATION_MALFORMED');
  });

  it('rejects a signature that is not 96 bytes', () => {
    const cose = decodeCoseSign1(d.bytes);
    expect(codeOf(() => verifyAttestation(encodeCoseSign1(cose.protectedBytes, cose.payload, cose.signature.subarray(0, 95)), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
  });

  it('rejects payload fields of the wrong type or size, and unknown keys', () => {
    const edits: ((p: AttestationPayload) => AttestationPayload)[] = [
      (p) => ({ ...p, moduleId: '' }),
      (p) => ({ ...p, digest: 'SHA256' as 'SHA384' }),
      (p) => ({ ...p, pcrs: new Map([[0, new Uint8Array(32)]]) }),
      (p) => ({ ...p, pcrs: new Map([[32, new Uint8Array(48)]]) }),
      (p) => ({ ...p, pcrs: new Map() }),
      (p) => ({ ...p, cabundle: [] }),
      (p) => ({ ...p, userData: new Uint8Array(1025) }),
      (p) => ({ ...p, timestamp: 0 }),
    ];
    for (const edit of edits) expect(codeOf(() => verifyAttestation(withPayload(d.bytes, edit), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
  });

  it('rejects a payload that is not a map or has an unknown key', async () => {
    const { Encoder } = await import('cbor-x');
    const enc = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
    const cose = decodeCoseSign1(d.bytes);
    const notMap = encodeCoseSign1(cose.protectedBytes, new Uint8Array(enc.encode([1, 2])), cose.signature);
    expect(codeOf(() => verifyAttestation(notMap, { at }))).toBe('ERR_ATTESTATION_MALFORMED');
    const extra = new Map<string, unknown>([['module_id', 'x'], ['extra', 1]]);
    expect(codeOf(() => verifyAttestation(encodeCoseSign1(cose.protectedBytes, new Uint8Array(enc.encode(extra)), cose.signature), { at }))).toBe('ERR_ATTESTATION_MALFORMED');
  });

  it('rejects a signature made over a re-encoded payload (the original bytes are what count)', () => {
    const cose = decodeCoseSign1(d.bytes);
    const sig = new Uint8Array(cose.signature);
    sig[0] = (sig[0] as number) ^ 0x80;
    expect(codeOf(() => verifyAttestation(encodeCoseSign1(cose.protectedBytes, cose.payload, sig), { at }))).toBe('ERR_ATTESTATION_SIGNATURE');
  });
});
