// Both ends of the control socket (the daemon and the `cosigner` CLI, both on the parent). One request
// per line: `{"id", "method", "params"}` as JSON, at most MAX_REQUEST_BYTES; one response line per
// request: `{"id", "ok": true, "result"}` or `{"id", "ok": false, "error": {code, message, retryable}}`.
// Validation is strict: unknown fields, wrong types and oversized strings are ERR_INVALID_ARGUMENT
// before anything reaches the enclave (which validates again: it trusts nothing from the parent).
import { CosignerError, type ErrorCode } from '../../proto/errors.ts';
import { CALLBACK_AUTH_MODES } from '../../proto/callback-auth-modes.ts';
import type { ServiceHandlers } from '../../proto/runtime/typed-service.ts';

/** A method of the enclave's `cosigner.v1.Control` service (proto/control.proto). */
export type ControlRpc = keyof ServiceHandlers<'cosigner.v1.Control'>;

/** Largest request line accepted. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Largest response line the CLI accepts (attestation documents and log tails are the big ones). */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

type Scalar = { type: 'string'; max: number; pattern?: RegExp } | { type: 'boolean' } | { type: 'int'; min: number; max: number };
type Spec = Scalar | { type: 'object'; fields: Record<string, Field> };
type Field = Spec & { required?: boolean };

const PEM = 16 * 1024;
const callbackSpec = {
  type: 'object',
  fields: {
    url: { type: 'string', max: 2048 },
    authMode: { type: 'string', max: 32, pattern: new RegExp(`^(${CALLBACK_AUTH_MODES.map((m) => m.replace('+', '\\+')).join('|')})$`) },
    handlerPublicKeyPem: { type: 'string', max: PEM },
    certificatePem: { type: 'string', max: PEM },
    rootCaPem: { type: 'string', max: PEM },
  },
} as const satisfies Field;

/**
 * Every control method and its params. `forward` names the enclave's `cosigner.v1.Control` RPC the
 * daemon forwards it to; methods without one are the parent's own.
 */
export const METHODS = {
  status: { params: {} },
  setup: {
    forward: 'Setup',
    params: {
      kmsKeyArn: { type: 'string', max: 2048, required: true, pattern: /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/ },
      region: { type: 'string', max: 64, required: true, pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/ },
      kmsEndpoint: { type: 'string', max: 2048 },
      coordinatorUrl: { type: 'string', max: 2048 },
      coordinatorPublicKeyPem: { type: 'string', max: PEM },
      ownerPublicKeyPem: { type: 'string', max: PEM },
      pairingToken: { type: 'string', max: 8192 },
      callback: callbackSpec,
    },
  },
  unseal: { forward: 'Unseal', params: { allowRollbackTo: { type: 'string', max: 20, pattern: /^\d+$/ } } },
  addUser: { forward: 'AddUser', params: { pairingToken: { type: 'string', max: 8192, required: true }, callback: callbackSpec } },
  listUsers: { forward: 'ListUsers', params: {} },
  removeUser: { forward: 'RemoveUser', params: { userId: { type: 'string', max: 256, required: true } } },
  refreshKey: { forward: 'RefreshKey', params: { userId: { type: 'string', max: 256, required: true }, keyId: { type: 'string', max: 128, required: true, pattern: /^[A-Za-z0-9._:-]+$/ } } },
  callbackUpdate: {
    forward: 'CallbackUpdate',
    params: {
      userId: { type: 'string', max: 256, required: true },
      callback: { ...callbackSpec, required: true },
      // A compact JWS by the current handler key (key rotation); no boolean from here is consent.
      rotationSignature: { type: 'string', max: 8192, pattern: /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/ },
      expiresInSeconds: { type: 'int', min: 0, max: 7 * 24 * 3600 },
    },
  },
  listChanges: { forward: 'ListChanges', params: {} },
  printPublicKey: { forward: 'PrintPublicKey', params: {} },
  getAttestation: { forward: 'GetAttestation', params: { nonce: { type: 'string', max: 1024, pattern: /^([0-9a-fA-F]{2})*$/ } } },
  logs: {
    params: {
      n: { type: 'int', min: 0, max: 10_000 },
      sinceMs: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER },
      from: { type: 'int', min: -1, max: Number.MAX_SAFE_INTEGER },
    },
  },
  start: { params: {} },
  stop: { params: {} },
  restart: { params: {} },
  // Is host:port in the daemon's egress allow-list? (add-user / callback-update check before proposing.)
  checkEgress: { params: { host: { type: 'string', max: 253, required: true }, port: { type: 'int', min: 1, max: 65535, required: true } } },
  listBackups: { params: {} },
  restoreBackup: {
    params: {
      name: { type: 'string', max: 63, required: true, pattern: /^[a-z0-9][a-z0-9._-]{0,62}$/ },
      generation: { type: 'string', max: 20, required: true, pattern: /^\d{1,20}$/ },
    },
  },
  upgrade: {
    params: {
      eifPath: { type: 'string', max: 1024, required: true },
      measurementsPath: { type: 'string', max: 1024, required: true },
      // The CLI checked the key policy before sending this; the daemon refuses without it.
      policyChecked: { type: 'boolean', required: true },
      timeoutMs: { type: 'int', min: 1000, max: 3_600_000 },
    },
  },
} as const satisfies Record<string, { forward?: ControlRpc; params: Record<string, Field> }>;

export type Method = keyof typeof METHODS;

/** A validated request. */
export interface ControlRequest {
  readonly id: string | number;
  readonly method: Method;
  readonly params: Record<string, unknown>;
}

/** A response line. */
export type ControlResponse =
  | { id: string | number | null; ok: true; result: unknown }
  | { id: string | number | null; ok: false; error: { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, string | number | boolean> } };

function bad(message: string, field?: string): never {
  throw new CosignerError('ERR_INVALID_ARGUMENT', message, field ? { details: { field } } : {});
}

function validate(path: string, spec: Field, v: unknown): unknown {
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') bad(`${path} must be a string`, path);
      if (v.length > spec.max) bad(`${path} is longer than ${spec.max} characters`, path);
      if (v.includes('\0')) bad(`${path} contains a NUL character`, path);
      if (spec.pattern && v !== '' && !spec.pattern.test(v)) bad(`${path} has an invalid format`, path);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') bad(`${path} must be true or false`, path);
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(`${path} must be an integer`, path);
      if (v < spec.min || v > spec.max) bad(`${path} must be between ${spec.min} and ${spec.max}`, path);
      return v;
    case 'object':
      return validateObject(path, spec.fields, v);
  }
}

function validateObject(path: string, fields: Record<string, Field>, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`${path} must be an object`, path);
  const obj = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) {
    const f = fields[k];
    if (!f || !Object.prototype.hasOwnProperty.call(fields, k)) bad(`unknown field ${path}.${k}`, `${path}.${k}`);
    out[k] = validate(`${path}.${k}`, f, obj[k]);
  }
  for (const [k, f] of Object.entries(fields)) {
    if (f.required && (out[k] === undefined || out[k] === '')) bad(`${path}.${k} is required`, `${path}.${k}`);
  }
  return out;
}

/**
 * The first key that appears twice in one object of `text` (valid JSON), or null. JSON.parse keeps
 * the last duplicate, so `{"method":"status","method":"stop"}` would read as a stop while a log or a
 * reviewer sees a status: such requests are refused rather than guessed at.
 */
export function duplicateKey(text: string): string | null {
  const stack: Array<Set<string> | null> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') stack.push(new Set());
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k]!)) k++;
      if (top && text[k] === ':') {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
      }
      i = j;
    }
  }
  return null;
}

/** Best-effort id of a request that failed validation, so the error can still be matched to it. */
export function salvageId(line: string): string | number | null {
  try {
    const id = (JSON.parse(line) as { id?: unknown }).id;
    return (typeof id === 'string' && id.length <= 64) || (typeof id === 'number' && Number.isSafeInteger(id)) ? id : null;
  } catch {
    return null;
  }
}

/** Parse and validate one request line. Throws ERR_INVALID_ARGUMENT / ERR_LIMIT_EXCEEDED / ERR_UNKNOWN_METHOD. */
export function parseRequest(line: string): ControlRequest {
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) {
    throw new CosignerError('ERR_LIMIT_EXCEEDED', `request is larger than ${MAX_REQUEST_BYTES} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    bad('request is not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('request must be a JSON object');
  const dup = duplicateKey(line);
  if (dup !== null) bad(`duplicate key ${JSON.stringify(dup.slice(0, 64))} in the request`, dup.slice(0, 64));
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (k !== 'id' && k !== 'method' && k !== 'params') bad(`unknown field ${k}`, k);
  const id = obj.id;
  if (!((typeof id === 'string' && id.length > 0 && id.length <= 64) || (typeof id === 'number' && Number.isSafeInteger(id)))) {
    bad('id must be a non-empty string (≤ 64 characters) or an integer', 'id');
  }
  const method = obj.method;
  if (typeof method !== 'string') bad('method must be a string', 'method');
  if (!Object.prototype.hasOwnProperty.call(METHODS, method)) {
    throw new CosignerError('ERR_UNKNOWN_METHOD', `unknown method ${method.slice(0, 64)}`, { details: { method: method.slice(0, 64) } });
  }
  const spec = METHODS[method as Method];
  const params = validateObject('params', spec.params as Record<string, Field>, obj.params ?? {});
  return { id, method: method as Method, params };
}

/** Serialise an error response (never includes a stack or a cause). */
export function errorResponse(id: string | number | null, err: CosignerError): ControlResponse {
  const j = err.toJSON();
  return { id, ok: false, error: { code: j.code, message: j.message, retryable: j.retryable, ...(j.details ? { details: j.details } : {}) } };
}
