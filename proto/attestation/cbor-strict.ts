// Both sides. A well-formedness gate run BEFORE cbor-x decodes attacker-supplied bytes: cbor-x is a
// permissive decoder (it understands dozens of tags, shared references, records, indefinite
// lengths), while an attestation document needs none of that. Walking the raw bytes once with hard
// limits means cbor-x only ever sees the small, plain subset the NSM emits.
import { CosignerError, type ErrorCode } from '../errors.ts';

/** Limits for {@link assertPlainCbor}. */
export interface PlainCborLimits {
  /** Maximum nesting depth of arrays/maps. */
  readonly maxDepth: number;
  /** Maximum number of data items in total. */
  readonly maxItems: number;
  /** Tag numbers allowed on the top-level item only (e.g. 18 for COSE_Sign1). */
  readonly topLevelTags?: readonly number[];
  /** Error code to throw (the caller's "malformed" code). */
  readonly code: ErrorCode;
  /** What is being parsed, for messages. */
  readonly what: string;
}

/**
 * Throws unless `bytes` is exactly one definite-length CBOR item made of unsigned/negative
 * integers, byte and text strings, arrays, maps, false/true/null, with no tags except the allowed
 * top-level ones, no map with two equal keys, within the depth and item limits, and with no
 * trailing bytes.
 */
export function assertPlainCbor(bytes: Uint8Array, limits: PlainCborLimits): void {
  let pos = 0;
  let items = 0;
  const fail = (why: string): never => {
    throw new CosignerError(limits.code, `${limits.what}: ${why}`, { details: { offset: pos } });
  };
  const readArg = (info: number): number => {
    if (info < 24) return info;
    const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (n === 0) fail(info === 31 ? 'indefinite length not allowed' : 'reserved additional info');
    if (pos + n > bytes.length) fail('truncated');
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + (bytes[pos + i] as number);
    pos += n;
    if (!Number.isSafeInteger(v)) fail('integer too large');
    return v;
  };
  const item = (depth: number, top: boolean): void => {
    if (++items > limits.maxItems) fail('too many items');
    if (depth > limits.maxDepth) fail('nested too deeply');
    if (pos >= bytes.length) fail('truncated');
    const ib = bytes[pos++] as number;
    const major = ib >> 5;
    const info = ib & 0x1f;
    switch (major) {
      case 0:
      case 1:
        readArg(info);
        return;
      case 2:
      case 3: {
        const len = readArg(info);
        if (len > bytes.length - pos) fail('truncated string');
        if (major === 3) {
          try {
            new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(pos, pos + len));
          } catch {
            fail('invalid UTF-8 text');
          }
        }
        pos += len;
        return;
      }
      case 4:
      case 5: {
        const len = readArg(info);
        // Each entry needs at least one byte: a length beyond what is left is a lie, not a loop.
        const entries = major === 5 ? len * 2 : len;
        if (entries > bytes.length - pos) fail('truncated container');
        if (major === 4) {
          for (let i = 0; i < entries; i++) item(depth + 1, false);
          return;
        }
        // cbor-x keeps the last of two equal keys, so a duplicate would let this reader see a value
        // another reader (taking the first) never saw. Refused, nested maps included.
        const seen = new Set<string>();
        for (let i = 0; i < len; i++) {
          const keyStart = pos;
          item(depth + 1, false);
          const key = keyIdentity(bytes, keyStart, pos);
          if (seen.has(key)) {
            pos = keyStart;
            fail('duplicate map key');
          }
          seen.add(key);
          item(depth + 1, false);
        }
        return;
      }
      case 6: {
        const tag = readArg(info);
        if (!top || !(limits.topLevelTags ?? []).includes(tag)) fail(`tag ${tag} not allowed`);
        item(depth, false);
        return;
      }
      default:
        // major 7: only false (20), true (21), null (22).
        if (info !== 20 && info !== 21 && info !== 22) fail('floats and other simple values not allowed');
        return;
    }
  };
  item(0, true);
  if (pos !== bytes.length) fail('trailing bytes');
}

// Encoded head length by additional info (the gate has already refused 28..31).
const HEAD_LEN: Record<number, number> = { 24: 2, 25: 3, 26: 5, 27: 9 };

/**
 * What makes two already-validated map keys equal to cbor-x: integers by sign and value, strings by
 * major type and content. Comparing raw bytes alone would miss the same key written with a longer
 * (non-minimal) head, e.g. 0x01 and 0x1801, which cbor-x decodes to the same number.
 */
function keyIdentity(bytes: Uint8Array, start: number, end: number): string {
  const ib = bytes[start] as number;
  const major = ib >> 5;
  const info = ib & 0x1f;
  const head = info < 24 ? 1 : (HEAD_LEN[info] as number);
  if (major === 0 || major === 1) {
    let v = info < 24 ? BigInt(info) : 0n;
    for (let i = start + 1; i < start + head; i++) v = v * 256n + BigInt(bytes[i] as number);
    return `${major}:${v}`;
  }
  if (major === 2 || major === 3) return `${major}:${Buffer.from(bytes.subarray(start + head, end)).toString('hex')}`;
  return `raw:${Buffer.from(bytes.subarray(start, end)).toString('hex')}`;
}
