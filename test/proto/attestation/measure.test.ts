import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { DEV_CMDLINE, DEV_INIT_RAMDISK, measureBundle, measureSections, pcrsFromMeasurements } from '../../../proto/attestation/measure.ts';

const sha384 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha384');
  for (const p of parts) h.update(p);
  return h.digest();
};
const pcr = (...parts: Uint8Array[]): string => sha384(new Uint8Array(48), sha384(...parts)).toString('hex');

describe('measurements', () => {
  it('follow nitro-cli: PCR0 kernel‖cmdline‖ramdisks, PCR1 kernel‖cmdline‖first ramdisk, PCR2 the rest', () => {
    const k = Uint8Array.of(1, 2);
    const c = Uint8Array.of(3);
    const r1 = Uint8Array.of(4, 5);
    const r2 = Uint8Array.of(6);
    const m = measureSections({ kernel: k, cmdline: c, ramdisks: [r1, r2] });
    expect(Buffer.from(m.pcr0).toString('hex')).toBe(pcr(k, c, r1, r2));
    expect(Buffer.from(m.pcr1).toString('hex')).toBe(pcr(k, c, r1));
    expect(Buffer.from(m.pcr2).toString('hex')).toBe(pcr(r2));
  });

  it('measureBundle prints the nitro-cli JSON shape with the documented dev mapping', () => {
    const bundle = new TextEncoder().encode('bundle bytes');
    const m = measureBundle(bundle);
    expect(Object.keys(m)).toEqual(['Measurements']);
    expect(Object.keys(m.Measurements)).toEqual(['HashAlgorithm', 'PCR0', 'PCR1', 'PCR2']);
    expect(m.Measurements.HashAlgorithm).toBe('Sha384 { ... }');
    expect(m.Measurements.PCR0).toBe(pcr(DEV_CMDLINE, DEV_INIT_RAMDISK, bundle));
    expect(m.Measurements.PCR1).toBe(pcr(DEV_CMDLINE, DEV_INIT_RAMDISK));
    expect(m.Measurements.PCR2).toBe(pcr(bundle));
    // Golden value: pins the mapping (kernel empty, fixed cmdline and init ramdisk) across releases.
    expect(measureBundle(new Uint8Array(0)).Measurements.PCR1).toBe(pcr(new TextEncoder().encode('nitro-cosigner dev-attestation v1'), new TextEncoder().encode('nitro-cosigner dev init ramdisk v1')));
  });

  it('pcrsFromMeasurements reads nitro-cli output strictly', () => {
    const json = { Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: 'AB'.repeat(48), PCR1: 'cd'.repeat(48), PCR2: 'ef'.repeat(48), PCR8: '01'.repeat(48) } };
    expect(pcrsFromMeasurements(json)).toEqual({ 0: 'ab'.repeat(48), 1: 'cd'.repeat(48), 2: 'ef'.repeat(48), 8: '01'.repeat(48) });
    const bad: unknown[] = [
      null,
      {},
      { Measurements: [] },
      { Measurements: { HashAlgorithm: 'Sha256', PCR0: 'ab'.repeat(48) } },
      { Measurements: { PCR0: 'ab'.repeat(47) } },
      { Measurements: { PCR0: 'ab'.repeat(48), Extra: 1 } },
      { Measurements: { PCR1: 'ab'.repeat(48) } },
      { Measurements: { PCR0: 'ab'.repeat(48), PCR40: 'ab'.repeat(48) } },
    ];
    for (const b of bad) expect(() => pcrsFromMeasurements(b)).toThrow(CosignerError);
  });
});
