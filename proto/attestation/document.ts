// Both sides. The one module that knows the bytes of an attestation document: COSE_Sign1 framing,
// the Sig_structure that ES384 signs, and the payload map. The verifier parses with it, the
// development authority builds with it, so a dev document and an NSM document are the same format.
import { Decoder, Encoder } from 'cbor-x';
import { CosignerError } from '../errors.ts';
import { assertPlainCbor } from './cbor-strict.ts';

/** Upper bound on a whole document: the NSM response buffer is 0x3000 bytes. */
export const MAX_DOCUMENT_BYTES = 0x3000;
/** Upper bound on each optional field (public_key, user_data, nonce) a document may carry. */
export const MAX_OPTIONAL_FIELD_BYTES = 1024;
/** What the NSM accepts in a request for user_data and nonce. */
export const MAX_REQUEST_FIELD_BYTES = 512;
/** Upper bound on one DER certificate. */
export const MAX_CERT_BYTES = 4096;
/** Upper bound on the cabundle length (real documents carry 4). */
export const MAX_CABUNDLE = 8;
/** PCR indexes the NSM has. */
export const MAX_PCRS = 32;
/** Bytes of one SHA-384 PCR. */
export const PCR_BYTES = 48;
/** Bytes of a raw P-384 r‖s signature. */
export const ES384_SIGNATURE_BYTES = 96;

/** `{1: -35}`: the only protected header an NSM emits (alg = ES384). */
export const PROTECTED_ES384 = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);

// copyBuffers: byte strings are copied out of the input, so a caller that reuses its buffer cannot
// change a document's fields after they were verified.
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false, copyBuffers: true });
const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });

/** A COSE_Sign1 split into its parts, protected and payload as the ORIGINAL byte strings. */
export interface CoseSign1 {
  readonly protectedBytes: Uint8Array;
  readonly unprotected: ReadonlyMap<unknown, unknown>;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** The payload fields, type-checked but not yet trusted. */
export interface AttestationPayload {
  readonly moduleId: string;
  readonly digest: 'SHA384';
  readonly timestamp: number;
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly certificate: Uint8Array;
  readonly cabundle: readonly Uint8Array[];
  readonly publicKey: Uint8Array | null;
  readonly userData: Uint8Array | null;
  readonly nonce: Uint8Array | null;
}

const malformed = (message: string): CosignerError => new CosignerError('ERR_ATTESTATION_MALFORMED', message);

function asBytes(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : undefined;
}

/**
 * Splits a COSE_Sign1 (untagged, as the NSM returns it, or with tag 18). Enforces the size limit,
 * plain CBOR, the ES384 protected header, an unprotected map without an algorithm, and a 96-byte
 * signature. Throws ERR_ATTESTATION_MALFORMED.
 */
export function decodeCoseSign1(doc: Uint8Array): CoseSign1 {
  if (!(doc instanceof Uint8Array)) throw malformed('document is not bytes');
  if (doc.length === 0 || doc.length > MAX_DOCUMENT_BYTES) throw malformed(`document size ${doc.length} outside 1..${MAX_DOCUMENT_BYTES}`);
  assertPlainCbor(doc, { maxDepth: 3, maxItems: 64, topLevelTags: [18], code: 'ERR_ATTESTATION_MALFORMED', what: 'COSE_Sign1' });
  let top: unknown;
  try {
    top = decoder.decode(doc);
  } catch (err) {
    throw new CosignerError('ERR_ATTESTATION_MALFORMED', 'COSE_Sign1 does not decode', { cause: err });
  }
  // cbor-x hands tag 18 back as a Tag object (value = the array) or, if unknown to it, the same.
  if (top !== null && typeof top === 'object' && !Array.isArray(top) && 'tag' in top && 'value' in top) {
    if ((top as { tag: unknown }).tag !== 18) throw malformed('unexpected tag');
    top = (top as { value: unknown }).value;
  }
  if (!Array.isArray(top) || top.length !== 4) throw malformed('COSE_Sign1 must be an array of 4');
  const [p, u, payload, sig] = top as unknown[];
  const protectedBytes = asBytes(p);
  const payloadBytes = asBytes(payload);
  const signature = asBytes(sig);
  if (!protectedBytes || !payloadBytes || !signature) throw malformed('COSE_Sign1 protected, payload and signature must be byte strings');
  if (!(u instanceof Map)) throw malformed('COSE_Sign1 unprotected header must be a map');
  if (u.size > 4) throw malformed('unprotected header too large');
  if (u.has(1)) throw malformed('algorithm must not be in the unprotected header');
  // The protected header must be exactly {1: -35}; anything else (other algorithm, crit, extra
  // parameters we would ignore) is refused rather than interpreted.
  if (!equalBytes(protectedBytes, PROTECTED_ES384)) throw malformed('protected header is not {1: -35} (ES384)');
  if (signature.length !== ES384_SIGNATURE_BYTES) throw malformed(`signature must be ${ES384_SIGNATURE_BYTES} bytes`);
  if (payloadBytes.length === 0) throw malformed('empty payload');
  return { protectedBytes, unprotected: u, payload: payloadBytes, signature };
}

/** The bytes ES384 signs: CBOR `["Signature1", protected, h'', payload]` (RFC 9052 §4.4). */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return new Uint8Array(encoder.encode(['Signature1', protectedBytes, new Uint8Array(0), payload]));
}

const PAYLOAD_KEYS = new Set(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);

function optionalField(m: Map<unknown, unknown>, key: string): Uint8Array | null {
  if (!m.has(key)) return null;
  const v = m.get(key);
  if (v === null || v === undefined) return null;
  const b = asBytes(v);
  if (!b) throw malformed(`${key} must be a byte string or null`);
  if (b.length > MAX_OPTIONAL_FIELD_BYTES) throw malformed(`${key} longer than ${MAX_OPTIONAL_FIELD_BYTES} bytes`);
  return b;
}

function uintValue(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

/** Parses and type-checks the payload map. Unknown keys are an error. Throws ERR_ATTESTATION_MALFORMED. */
export function decodePayload(payload: Uint8Array): AttestationPayload {
  assertPlainCbor(payload, { maxDepth: 3, maxItems: 256, code: 'ERR_ATTESTATION_MALFORMED', what: 'payload' });
  let m: unknown;
  try {
    m = decoder.decode(payload);
  } catch (err) {
    throw new CosignerError('ERR_ATTESTATION_MALFORMED', 'payload does not decode', { cause: err });
  }
  if (!(m instanceof Map)) throw malformed('payload must be a map');
  for (const k of m.keys()) if (typeof k !== 'string' || !PAYLOAD_KEYS.has(k)) throw malformed(`unknown payload key ${typeof k === 'string' ? JSON.stringify(k.slice(0, 32)) : typeof k}`);

  const moduleId = m.get('module_id');
  if (typeof moduleId !== 'string' || moduleId.length === 0 || moduleId.length > 256) throw malformed('module_id must be non-empty text');
  if (m.get('digest') !== 'SHA384') throw malformed('digest must be "SHA384"');
  const timestamp = uintValue(m.get('timestamp'));
  if (timestamp === undefined || timestamp === 0) throw malformed('timestamp must be a positive integer (ms)');

  const rawPcrs = m.get('pcrs');
  if (!(rawPcrs instanceof Map) || rawPcrs.size === 0 || rawPcrs.size > MAX_PCRS) throw malformed(`pcrs must be a map of 1..${MAX_PCRS} entries`);
  const pcrs = new Map<number, Uint8Array>();
  for (const [k, v] of rawPcrs) {
    const idx = uintValue(k);
    if (idx === undefined || idx >= MAX_PCRS) throw malformed('PCR index outside 0..31');
    const val = asBytes(v);
    if (!val || val.length !== PCR_BYTES) throw malformed(`PCR${idx} must be ${PCR_BYTES} bytes`);
    if (pcrs.has(idx)) throw malformed(`PCR${idx} appears twice`);
    pcrs.set(idx, val);
  }

  const certificate = asBytes(m.get('certificate'));
  if (!certificate || certificate.length === 0 || certificate.length > MAX_CERT_BYTES) throw malformed('certificate must be a DER byte string');
  const rawBundle = m.get('cabundle');
  if (!Array.isArray(rawBundle) || rawBundle.length === 0 || rawBundle.length > MAX_CABUNDLE) throw malformed(`cabundle must hold 1..${MAX_CABUNDLE} certificates`);
  const cabundle = rawBundle.map((c, i) => {
    const b = asBytes(c);
    if (!b || b.length === 0 || b.length > MAX_CERT_BYTES) throw malformed(`cabundle[${i}] must be a DER byte string`);
    return b;
  });

  return {
    moduleId,
    digest: 'SHA384',
    timestamp,
    pcrs,
    certificate,
    cabundle,
    publicKey: optionalField(m, 'public_key'),
    userData: optionalField(m, 'user_data'),
    nonce: optionalField(m, 'nonce'),
  };
}

/**
 * Encodes a payload map in the NSM's field order (module_id, digest, timestamp, pcrs, certificate,
 * cabundle, public_key, user_data, nonce), absent optional fields as CBOR null and the timestamp as
 * an unsigned integer. Used by the development authority.
 */
export function encodePayload(p: AttestationPayload): Uint8Array {
  const pcrs = new Map<number, Uint8Array>([...p.pcrs.entries()].sort((a, b) => a[0] - b[0]));
  const m = new Map<string, unknown>([
    ['module_id', p.moduleId],
    ['digest', p.digest],
    // A bigint keeps cbor-x from writing a float64 for values above 2^32.
    ['timestamp', BigInt(p.timestamp)],
    ['pcrs', pcrs],
    ['certificate', p.certificate],
    ['cabundle', [...p.cabundle]],
    ['public_key', p.publicKey],
    ['user_data', p.userData],
    ['nonce', p.nonce],
  ]);
  return new Uint8Array(encoder.encode(m));
}

/** Encodes an untagged COSE_Sign1 `[protected, {}, payload, signature]`, as the NSM returns it. */
export function encodeCoseSign1(protectedBytes: Uint8Array, payload: Uint8Array, signature: Uint8Array): Uint8Array {
  return new Uint8Array(encoder.encode([protectedBytes, new Map(), payload, signature]));
}

/** Constant-shape byte comparison (inputs are public; this is about correctness, not timing). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/**
 * Builds a complete document: encodes the payload, signs the Sig_structure with `sign` (which must
 * return a 96-byte raw r‖s ES384 signature) and wraps it as an untagged COSE_Sign1.
 */
export function buildDocument(p: AttestationPayload, sign: (tbs: Uint8Array) => Uint8Array): Uint8Array {
  const payload = encodePayload(p);
  const signature = sign(sigStructure(PROTECTED_ES384, payload));
  if (signature.length !== ES384_SIGNATURE_BYTES) throw new CosignerError('ERR_INTERNAL', 'ES384 signer returned a signature of the wrong size');
  return encodeCoseSign1(PROTECTED_ES384, payload, signature);
}
