// Enclave. The NSM's request/response messages (CBOR, as in AWS's nsm-api): encoding requests and
// strictly decoding responses, with no device access, so it is unit-tested without /dev/nsm.
import { Decoder, Encoder } from 'cbor-x';
import { CosignerError } from '../../proto/errors.ts';
import { assertPlainCbor } from '../../proto/attestation/cbor-strict.ts';
import { MAX_DOCUMENT_BYTES, MAX_OPTIONAL_FIELD_BYTES, MAX_REQUEST_FIELD_BYTES } from '../../proto/attestation/document.ts';

/** Largest request the driver accepts. */
export const NSM_MAX_REQUEST_BYTES = 0x1000;
/** Response buffer the caller provides. */
export const NSM_RESPONSE_BUFFER_BYTES = 0x3000;

/** A request to the NSM. */
export type NsmRequest =
  | { kind: 'DescribeNSM' }
  | { kind: 'GetRandom' }
  | { kind: 'Attestation'; userData?: Uint8Array; nonce?: Uint8Array; publicKey?: Uint8Array }
  | { kind: 'DescribePCR'; index: number }
  | { kind: 'ExtendPCR'; index: number; data: Uint8Array }
  | { kind: 'LockPCR'; index: number }
  | { kind: 'LockPCRs'; range: number };

/** The NSM's description of itself. */
export interface NsmDescription {
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly versionPatch: number;
  readonly moduleId: string;
  readonly maxPcrs: number;
  readonly lockedPcrs: readonly number[];
  readonly digest: string;
}

/** Decoded responses, by request kind. */
export interface NsmResponses {
  DescribeNSM: NsmDescription;
  GetRandom: Uint8Array;
  Attestation: Uint8Array;
  DescribePCR: { lock: boolean; data: Uint8Array };
  ExtendPCR: Uint8Array;
  LockPCR: null;
  LockPCRs: null;
}

const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });

const invalid = (m: string): CosignerError => new CosignerError('ERR_INVALID_ARGUMENT', m);

function pcrIndex(i: number): number {
  if (!Number.isInteger(i) || i < 0 || i > 31) throw invalid('PCR index outside 0..31');
  return i;
}

function optBytes(name: string, v: Uint8Array | undefined, max: number): Uint8Array | null {
  if (v === undefined) return null;
  if (!(v instanceof Uint8Array) || v.length > max) throw invalid(`${name} must be at most ${max} bytes`);
  return v;
}

/** Encodes a request exactly as nsm-api's serde CBOR does (bare string or single-key map). */
export function encodeNsmRequest(req: NsmRequest): Uint8Array {
  let value: unknown;
  switch (req.kind) {
    case 'DescribeNSM':
    case 'GetRandom':
      value = req.kind;
      break;
    case 'Attestation':
      value = new Map([
        [
          'Attestation',
          new Map<string, Uint8Array | null>([
            ['user_data', optBytes('user_data', req.userData, MAX_REQUEST_FIELD_BYTES)],
            ['nonce', optBytes('nonce', req.nonce, MAX_REQUEST_FIELD_BYTES)],
            ['public_key', optBytes('public_key', req.publicKey, MAX_OPTIONAL_FIELD_BYTES)],
          ]),
        ],
      ]);
      break;
    case 'DescribePCR':
      value = new Map([['DescribePCR', new Map([['index', pcrIndex(req.index)]])]]);
      break;
    case 'ExtendPCR': {
      const data = optBytes('data', req.data, MAX_REQUEST_FIELD_BYTES);
      if (!data) throw invalid('ExtendPCR needs data');
      value = new Map([['ExtendPCR', new Map<string, unknown>([['index', pcrIndex(req.index)], ['data', data]])]]);
      break;
    }
    case 'LockPCR':
      value = new Map([['LockPCR', new Map([['index', pcrIndex(req.index)]])]]);
      break;
    case 'LockPCRs':
      if (!Number.isInteger(req.range) || req.range < 0 || req.range > 32) throw invalid('LockPCRs range outside 0..32');
      value = new Map([['LockPCRs', new Map([['range', req.range]])]]);
      break;
  }
  const out = new Uint8Array(encoder.encode(value));
  if (out.length > NSM_MAX_REQUEST_BYTES) throw invalid('NSM request too large');
  return out;
}

/** NSM error names (nsm-api ErrorCode) and what they mean to a caller. */
export const NSM_ERRORS: Readonly<Record<string, string>> = {
  InvalidArgument: 'an argument was invalid',
  InvalidIndex: 'PCR index out of range',
  InvalidResponse: 'the NSM produced an invalid response',
  ReadOnlyIndex: 'the PCR is locked',
  InvalidOperation: 'operation not allowed',
  BufferTooSmall: 'response buffer too small',
  InputTooLarge: 'request too large',
  InternalError: 'NSM internal error',
};

const nsmError = (m: string, details: Record<string, string | number | boolean> = {}): CosignerError => new CosignerError('ERR_NSM', m, { details });

function bytesField(m: Map<unknown, unknown>, key: string, max: number): Uint8Array {
  const v = m.get(key);
  if (!(v instanceof Uint8Array) || v.length > max) throw nsmError(`NSM response field ${key} must be at most ${max} bytes`);
  return new Uint8Array(v);
}

function uintField(m: Map<unknown, unknown>, key: string): number {
  const v = m.get(key);
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw nsmError(`NSM response field ${key} must be an unsigned integer`);
  return n;
}

/**
 * Decodes the response to a `kind` request. `{"Error": name}` becomes ERR_NSM with
 * `details.nsmError = name`; any other shape than the one `kind` expects is ERR_NSM too.
 */
export function decodeNsmResponse<K extends NsmRequest['kind']>(kind: K, bytes: Uint8Array): NsmResponses[K] {
  if (bytes.length === 0 || bytes.length > NSM_RESPONSE_BUFFER_BYTES) throw nsmError('NSM response size out of range');
  try {
    assertPlainCbor(bytes, { maxDepth: 4, maxItems: 128, code: 'ERR_NSM', what: 'NSM response' });
  } catch (err) {
    throw err instanceof CosignerError ? nsmError(err.message) : err;
  }
  let v: unknown;
  try {
    v = decoder.decode(bytes);
  } catch (err) {
    throw new CosignerError('ERR_NSM', 'NSM response does not decode', { cause: err });
  }
  if (typeof v === 'string') {
    if ((kind === 'LockPCR' || kind === 'LockPCRs') && v === kind) return null as NsmResponses[K];
    throw nsmError(`unexpected NSM response ${JSON.stringify(v.slice(0, 32))}`);
  }
  if (!(v instanceof Map) || v.size !== 1) throw nsmError('NSM response must be a single-key map');
  const [[key, body]] = [...v.entries()] as [[unknown, unknown]];
  if (key === 'Error') {
    const name = typeof body === 'string' && Object.prototype.hasOwnProperty.call(NSM_ERRORS, body) ? body : 'Unknown';
    throw nsmError(`NSM error ${name}: ${NSM_ERRORS[name] ?? 'unrecognised error'}`, { nsmError: name });
  }
  if (key !== kind || !(body instanceof Map)) throw nsmError(`NSM answered ${typeof key === 'string' ? key.slice(0, 32) : '?'} to ${kind}`);
  switch (kind) {
    case 'Attestation':
      return bytesField(body, 'document', MAX_DOCUMENT_BYTES) as NsmResponses[K];
    case 'GetRandom': {
      const r = bytesField(body, 'random', 1024);
      if (r.length === 0) throw nsmError('NSM returned no random bytes');
      return r as NsmResponses[K];
    }
    case 'DescribePCR': {
      const lock = body.get('lock');
      if (typeof lock !== 'boolean') throw nsmError('DescribePCR lock must be a boolean');
      return { lock, data: bytesField(body, 'data', 64) } as NsmResponses[K];
    }
    case 'ExtendPCR':
      return bytesField(body, 'data', 64) as NsmResponses[K];
    case 'DescribeNSM': {
      const moduleId = body.get('module_id');
      const digest = body.get('digest');
      const locked = body.get('locked_pcrs');
      if (typeof moduleId !== 'string' || typeof digest !== 'string' || !Array.isArray(locked) || locked.length > 32) throw nsmError('DescribeNSM response malformed');
      const lockedPcrs = locked.map((x: unknown) => {
        const n = typeof x === 'bigint' ? Number(x) : x;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 31) throw nsmError('DescribeNSM locked_pcrs malformed');
        return n;
      });
      return {
        versionMajor: uintField(body, 'version_major'),
        versionMinor: uintField(body, 'version_minor'),
        versionPatch: uintField(body, 'version_patch'),
        moduleId,
        maxPcrs: uintField(body, 'max_pcrs'),
        lockedPcrs,
        digest,
      } satisfies NsmDescription as unknown as NsmResponses[K];
    }
    default:
      throw nsmError(`unexpected NSM response body for ${kind}`);
  }
}
