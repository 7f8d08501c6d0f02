// Both sides (build host, parent, tests, the development authority). Image measurements the way
// nitro-cli computes them for an EIF: PCRx = SHA-384(48 zero bytes ‖ SHA-384(content)), PCR0 over
// kernel ‖ cmdline ‖ all ramdisks, PCR1 over kernel ‖ cmdline ‖ first ramdisk, PCR2 over the
// remaining ramdisks. The development authority attests an enclave *bundle* through a fixed
// mapping onto those sections (docs/attestation.md, "PCR mapping").
import { createHash } from 'node:crypto';
import { CosignerError } from '../errors.ts';

/** Bytes of a SHA-384 PCR. */
export const PCR_LENGTH = 48;

/** The JSON `nitro-cli build-enclave` prints (hex lower-case). */
export interface Measurements {
  Measurements: { HashAlgorithm: string; PCR0: string; PCR1: string; PCR2: string; PCR8?: string };
}

/** The HashAlgorithm string nitro-cli prints. */
export const NITRO_CLI_HASH_ALGORITHM = 'Sha384 { ... }';

/** The sections of an image that nitro-cli measures. */
export interface ImageSections {
  readonly kernel: Uint8Array;
  readonly cmdline: Uint8Array;
  readonly ramdisks: readonly Uint8Array[];
}

/** Development mapping, fixed so every installation gets the same PCRs for the same bundle. */
export const DEV_KERNEL = new Uint8Array(0);
export const DEV_CMDLINE = new TextEncoder().encode('nitro-cosigner dev-attestation v1');
export const DEV_INIT_RAMDISK = new TextEncoder().encode('nitro-cosigner dev init ramdisk v1');

/** PCR value after extending an all-zero PCR once with `measurement`: SHA-384(zeros ‖ measurement). */
export function extendFromZero(measurement: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha384').update(new Uint8Array(PCR_LENGTH)).update(measurement).digest());
}

/** PCR = SHA-384(zeros ‖ SHA-384(parts concatenated)); parts are hashed as a stream, never copied. */
export function measureParts(parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha384');
  for (const p of parts) h.update(p);
  return extendFromZero(new Uint8Array(h.digest()));
}

/** PCR0/1/2 of an image made of these sections, as raw bytes. */
export function measureSections(s: ImageSections): { pcr0: Uint8Array; pcr1: Uint8Array; pcr2: Uint8Array } {
  const [first, ...rest] = s.ramdisks;
  return {
    pcr0: measureParts([s.kernel, s.cmdline, ...s.ramdisks]),
    pcr1: measureParts([s.kernel, s.cmdline, ...(first ? [first] : [])]),
    pcr2: measureParts(rest),
  };
}

/** The sections the development authority pretends a bundle was packed into. */
export function devSections(bundle: Uint8Array): ImageSections {
  return { kernel: DEV_KERNEL, cmdline: DEV_CMDLINE, ramdisks: [DEV_INIT_RAMDISK, bundle] };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Measurements of an enclave bundle under the development mapping (kernel = empty, cmdline =
 * {@link DEV_CMDLINE}, ramdisk 1 = {@link DEV_INIT_RAMDISK}, ramdisk 2 = the bundle), in the JSON
 * shape nitro-cli build-enclave prints. Changing one byte of the bundle changes PCR0 and PCR2.
 *
 * @example
 * measureBundle(readFileSync('build/enclave-dev.mjs')).Measurements.PCR0
 */
export function measureBundle(bundle: Uint8Array): Measurements {
  const m = measureSections(devSections(bundle));
  return { Measurements: { HashAlgorithm: NITRO_CLI_HASH_ALGORITHM, PCR0: hex(m.pcr0), PCR1: hex(m.pcr1), PCR2: hex(m.pcr2) } };
}

/**
 * Reads nitro-cli's measurements JSON (or measureBundle's) strictly into expected PCRs for the
 * verifier: `{ 0: hex, 1: hex, 2: hex[, 8: hex] }`. Throws ERR_INVALID_ARGUMENT.
 */
export function pcrsFromMeasurements(json: unknown): Record<number, string> {
  const bad = (m: string): never => {
    throw new CosignerError('ERR_INVALID_ARGUMENT', `measurements: ${m}`);
  };
  if (typeof json !== 'object' || json === null) bad('not an object');
  const outer = json as Record<string, unknown>;
  const inner = outer['Measurements'];
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) bad('missing "Measurements" object');
  const m = inner as Record<string, unknown>;
  const out: Record<number, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (k === 'HashAlgorithm') {
      if (typeof v !== 'string' || !v.startsWith('Sha384')) bad('HashAlgorithm must be Sha384');
      continue;
    }
    const match = /^PCR([0-9]{1,2})$/.exec(k);
    if (!match) bad(`unknown field ${JSON.stringify(k.slice(0, 32))}`);
    const idx = Number((match as RegExpExecArray)[1]);
    if (idx > 31) bad(`${k} outside 0..31`);
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{96}$/.test(v)) bad(`${k} must be 96 hex digits`);
    out[idx] = (v as string).toLowerCase();
  }
  if (out[0] === undefined) bad('PCR0 missing');
  return out;
}
