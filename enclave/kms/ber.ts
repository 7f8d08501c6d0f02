// Runs in the enclave. A bounded structural check of BER input before any ASN.1 library sees it:
// KMS answers with BER (indefinite lengths, constructed OCTET STRING chunks), which is more
// permissive than DER, so we walk it ourselves first and refuse anything deeper, longer or more
// numerous than a CiphertextForRecipient can be. The library parse that follows then only ever
// sees well-formed, small, shallow input.
import { CosignerError } from '../../proto/errors.ts';

/** Limits for {@link checkBer}. */
export interface BerLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxElements: number;
}

/** Limits for a CiphertextForRecipient: 64 KiB, depth 16, 512 elements (the real ones: under 500 bytes, nesting depth 10, 30 elements). */
export const DEFAULT_BER_LIMITS: BerLimits = { maxBytes: 64 * 1024, maxDepth: 16, maxElements: 512 };

function fail(why: string): never {
  throw new CosignerError('ERR_CMS_MALFORMED', `malformed BER: ${why}`);
}

/** One element of a parsed BER tree; offsets index the input. */
export interface BerNode {
  /** The single identifier byte: class (bits 8-7), constructed (bit 6), number (bits 5-1). */
  readonly tag: number;
  /** Offset of the identifier byte. */
  readonly start: number;
  /** Contents: [contentStart, contentEnd), end-of-contents excluded. */
  readonly contentStart: number;
  readonly contentEnd: number;
  /** Children of a constructed element (end-of-contents markers not included); null when primitive. */
  readonly children: readonly BerNode[] | null;
}

/**
 * Checks that `bytes` is exactly one well-formed BER element within `limits`: definite lengths in
 * bounds, indefinite lengths only on constructed elements and closed by end-of-contents, single-byte
 * tags only (CMS needs no others), no trailing bytes. Throws ERR_CMS_MALFORMED otherwise.
 *
 * @example checkBer(envelopeBytes) // throws on hostile input, returns nothing on success
 */
export function checkBer(bytes: Uint8Array, limits: BerLimits = DEFAULT_BER_LIMITS): void {
  parseBer(bytes, limits);
}

/**
 * {@link checkBer}, returning the element tree so a caller can check every tag against the shape it
 * expects (this walker checks framing only, not what the tags mean).
 *
 * @example const root = parseBer(envelopeBytes); if (root.tag !== 0x30) throw …
 */
export function parseBer(bytes: Uint8Array, limits: BerLimits = DEFAULT_BER_LIMITS): BerNode {
  if (bytes.length === 0) fail('empty');
  if (bytes.length > limits.maxBytes) fail(`larger than ${limits.maxBytes} bytes`);
  let elements = 0;

  // Returns the element starting at `pos` and the offset just past it; `end` bounds it.
  const walk = (pos: number, end: number, depth: number): { node: BerNode; next: number } => {
    if (depth > limits.maxDepth) fail('nested too deeply');
    if (++elements > limits.maxElements) fail('too many elements');
    if (pos + 2 > end) fail('truncated header');
    const tag = bytes[pos]!;
    if ((tag & 0x1f) === 0x1f) fail('multi-byte tag');
    const constructed = (tag & 0x20) !== 0;
    const lenByte = bytes[pos + 1]!;
    let p = pos + 2;
    if (lenByte === 0x80) {
      if (!constructed) fail('indefinite length on a primitive element');
      const children: BerNode[] = [];
      for (;;) {
        if (p + 2 > end) fail('missing end-of-contents');
        if (bytes[p] === 0 && bytes[p + 1] === 0) {
          return { node: { tag, start: pos, contentStart: pos + 2, contentEnd: p, children }, next: p + 2 };
        }
        const child = walk(p, end, depth + 1);
        children.push(child.node);
        p = child.next;
      }
    }
    let len = 0;
    if (lenByte & 0x80) {
      const n = lenByte & 0x7f;
      if (n > 3) fail('length too large');
      if (p + n > end) fail('truncated length');
      for (let i = 0; i < n; i++) len = len * 256 + bytes[p++]!;
    } else {
      len = lenByte;
    }
    const contentStart = p;
    const stop = p + len;
    if (stop > end) fail('element overruns its parent');
    if (tag === 0 && len === 0) fail('unexpected end-of-contents');
    let children: BerNode[] | null = null;
    if (constructed) {
      children = [];
      while (p < stop) {
        const child = walk(p, stop, depth + 1);
        children.push(child.node);
        p = child.next;
      }
    }
    return { node: { tag, start: pos, contentStart, contentEnd: stop, children }, next: stop };
  };

  const { node, next } = walk(0, bytes.length, 0);
  if (next !== bytes.length) fail('trailing bytes');
  return node;
}
