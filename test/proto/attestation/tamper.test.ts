// Any change to the signed bytes must fail: single-byte flips at chosen positions, then random
// mutations (fast-check). The document is verified at its own timestamp so only tampering can fail it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCoseSign1 } from '../../../proto/attestation/document.ts';
import { checkAttestation } from '../../../proto/attestation/verify.ts';
import { EVERVAULT_SIGNED, SEQUENCE_PROD } from './vectors.ts';

const d = SEQUENCE_PROD;
const opts = { at: d.timestamp };

/** Offsets of a sub-array inside the document (the decoder hands back views into it). */
function offsetOf(part: Uint8Array): number {
  const i = Buffer.from(d.bytes).indexOf(Buffer.from(part));
  if (i < 0) throw new Error('part not found');
  return i;
}

function flipped(pos: number, mask = 0x01): Uint8Array {
  const b = new Uint8Array(d.bytes);
  b[pos] = (b[pos] as number) ^ mask;
  return b;
}

/** Deterministic sample of `count` positions in [start, end) (a fixed-stride walk plus both ends). */
function sample(start: number, end: number, count: number): number[] {
  const len = end - start;
  if (len <= count) return [...Array(len).keys()].map((i) => start + i);
  const out = new Set<number>([start, end - 1]);
  const stride = len / count;
  for (let i = 0; out.size < count && i < count; i++) out.add(start + Math.floor(i * stride + ((i * 7919) % Math.max(1, Math.floor(stride)))));
  return [...out];
}

describe('single-byte tampering', () => {
  const cose = decodeCoseSign1(d.bytes);
  const prot = offsetOf(cose.protectedBytes);
  const payload = offsetOf(cose.payload);
  const sig = offsetOf(cose.signature);

  it('control: the untouched document verifies', () => {
    expect(checkAttestation(d.bytes, opts).ok).toBe(true);
  });

  it('every byte of the protected header', () => {
    for (let i = prot; i < prot + cose.protectedBytes.length; i++) {
      for (const mask of [0x01, 0x80]) expect(checkAttestation(flipped(i, mask), opts).ok).toBe(false);
    }
  });

  it('every byte of the signature', () => {
    for (let i = sig; i < sig + cose.signature.length; i++) {
      const r = checkAttestation(flipped(i), opts);
      expect(r.ok).toBe(false);
      expect(r.failures.map((f) => f.code)).toContain('ERR_ATTESTATION_SIGNATURE');
    }
  });

  it('300 sampled bytes of the payload', () => {
    const positions = sample(payload, payload + cose.payload.length, 300);
    expect(positions.length).toBe(300);
    for (const i of positions) expect(checkAttestation(flipped(i), opts).ok).toBe(false);
  });

  it('every byte of the COSE framing', () => {
    const framing = [...Array(prot).keys(), ...Array.from({ length: payload - (prot + cose.protectedBytes.length) }, (_, k) => prot + cose.protectedBytes.length + k)];
    for (const i of framing) expect(checkAttestation(flipped(i), opts).ok).toBe(false);
  });
});

describe('random mutations never verify', () => {
  const base = EVERVAULT_SIGNED.bytes;
  const at = EVERVAULT_SIGNED.timestamp;
  it('fast-check: overwrite, insert, delete, truncate', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), pos: fc.nat(base.length - 1), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(base.length), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(base.length - 1), byte: fc.constant(0) }),
      fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat(base.length - 1), byte: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (muts) => {
        let b = Array.from(base);
        for (const m of muts) {
          const pos = Math.min(m.pos, b.length - 1);
          if (m.kind === 'set') b[pos] = m.byte;
          else if (m.kind === 'insert') b.splice(pos, 0, m.byte);
          else if (m.kind === 'delete') b.splice(pos, 1);
          else b = b.slice(0, pos);
        }
        const bytes = new Uint8Array(b);
        if (Buffer.from(bytes).equals(Buffer.from(base))) return; // a no-op mutation (same byte written)
        const r = checkAttestation(bytes, { at });
        expect(r.ok).toBe(false);
        expect(r.failures.length).toBeGreaterThan(0);
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });
});
