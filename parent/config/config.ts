// Runs on the parent. The daemon's configuration file (JSON). Parsing is strict: an unknown field, a
// wrong type or an out-of-range value is ERR_CONFIG_INVALID naming the field, so a typo never falls
// back silently to a default (for instance a misspelled `debug` quietly starting a debug enclave).
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CosignerError } from '../../proto/errors.ts';
import { parseStorageConfig, type StorageConfig } from './storage-config.ts';

/** Where the repository lives: local-mode defaults point into its build/ folder. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Default COSIGNER_HOME: `db/`, `backup/`, `log/` live below it. */
export const DEFAULT_HOME = '/databases/cosigner';
/** Default control socket; systemd's RuntimeDirectory=cosigner creates /run/cosigner with mode 0700. */
export const DEFAULT_CONTROL_SOCKET = '/run/cosigner/control.sock';
/** Largest config file read, so a wrong path (a device, a huge file) cannot exhaust memory. */
const MAX_CONFIG_BYTES = 64 * 1024;

/** The validated, defaulted daemon configuration. */
export interface DaemonConfig {
  /** COSIGNER_HOME. */
  readonly home: string;
  /** `nitro`: a real enclave via nitro-cli; `local`: the enclave bundle as a child process. */
  readonly mode: 'nitro' | 'local';
  /** nitro: the EIF to run. */
  readonly eifPath: string;
  readonly cpuCount: number;
  readonly memoryMiB: number;
  /** nitro: enclave CID (>= 4). */
  readonly cid: number;
  /** nitro: start the enclave in debug mode (PCR0 all zeros: KMS will never release secrets to it). */
  readonly debug: boolean;
  /** local: the enclave bundle run with `node`. */
  readonly bundlePath: string;
  /** local: extra arguments for the bundle (e.g. `--dev-ca DIR`, `--local`). */
  readonly enclaveArgs: readonly string[];
  /** Where the parent dials the enclave: `vsock://CID:PORT` or `unix:///path`. */
  readonly wireUrl: string;
  /** Handshake build id the parent expects; empty = take it from the bundle's sidecar JSON / accept any. */
  readonly buildId: string;
  /** Egress relay allow-list file; empty = nothing may leave through the relay. */
  readonly allowListPath: string;
  readonly imdsEndpoint: string;
  /** `host:port` on loopback for /healthz and /metrics; empty = disabled. */
  readonly metricsAddress: string;
  readonly controlSocket: string;
  /** Control requests waiting beyond this many answer ERR_BUSY. */
  readonly queueLimit: number;
  /** Control requests forwarded to the enclave at once. */
  readonly maxConcurrent: number;
  readonly logMaxBytes: number;
  readonly logKeep: number;
  readonly restartInitialMs: number;
  readonly restartMaxMs: number;
  readonly healthIntervalMs: number;
  /** How long a forwarded control request may take (DKG and setup are the slow ones). */
  readonly requestTimeoutMs: number;
  /** One active signer among instances sharing a bucket (docs/operations.md); absent = always active. */
  readonly lease?: LeaseConfig;
  /** Where the sealed blobs live: COSIGNER_HOME/db (default) or an S3 bucket (storage-config.ts). */
  readonly storage: StorageConfig;
}

/** The lease object: an S3 object written only with conditional writes (parent/storage/lease.ts). */
export interface LeaseConfig {
  readonly bucket: string;
  readonly objectKey: string;
  /** Lease TTL; the holder renews every TTL/3 and stops acting TTL/5 before it runs out. */
  readonly ttlMs: number;
  /** AWS region of the bucket (default: the SDK's, from the instance). */
  readonly region: string;
  /** S3 endpoint (local mode's loopback server); empty = AWS. */
  readonly endpoint: string;
}

type Kind = 'string' | 'boolean' | 'int' | 'string[]' | 'lease' | 'section';
interface FieldSpec {
  kind: Kind;
  min?: number;
  max?: number;
  oneOf?: readonly string[];
  maxLength?: number;
}

const FIELDS: Record<keyof DaemonConfig, FieldSpec> = {
  home: { kind: 'string', maxLength: 1024 },
  mode: { kind: 'string', oneOf: ['nitro', 'local'] },
  eifPath: { kind: 'string', maxLength: 1024 },
  cpuCount: { kind: 'int', min: 1, max: 256 },
  memoryMiB: { kind: 'int', min: 64, max: 4 * 1024 * 1024 },
  cid: { kind: 'int', min: 4, max: 0xfffffffe },
  debug: { kind: 'boolean' },
  bundlePath: { kind: 'string', maxLength: 1024 },
  enclaveArgs: { kind: 'string[]', max: 32, maxLength: 1024 },
  wireUrl: { kind: 'string', maxLength: 1024 },
  buildId: { kind: 'string', maxLength: 128 },
  allowListPath: { kind: 'string', maxLength: 1024 },
  imdsEndpoint: { kind: 'string', maxLength: 256 },
  metricsAddress: { kind: 'string', maxLength: 64 },
  controlSocket: { kind: 'string', maxLength: 100 },
  queueLimit: { kind: 'int', min: 1, max: 100_000 },
  maxConcurrent: { kind: 'int', min: 1, max: 1024 },
  logMaxBytes: { kind: 'int', min: 4096, max: 1024 * 1024 * 1024 },
  logKeep: { kind: 'int', min: 1, max: 100 },
  restartInitialMs: { kind: 'int', min: 1, max: 3_600_000 },
  restartMaxMs: { kind: 'int', min: 1, max: 3_600_000 },
  healthIntervalMs: { kind: 'int', min: 10, max: 3_600_000 },
  requestTimeoutMs: { kind: 'int', min: 100, max: 3_600_000 },
  lease: { kind: 'lease' },
  storage: { kind: 'section' },
};

function invalid(field: string, why: string): never {
  throw new CosignerError('ERR_CONFIG_INVALID', `config field "${field}" ${why}`, { details: { field } });
}

function checkField(name: string, spec: FieldSpec, v: unknown): void {
  switch (spec.kind) {
    case 'section':
      return; // validated by its own parser
    case 'string':
      if (typeof v !== 'string') invalid(name, 'must be a string');
      if (spec.maxLength !== undefined && v.length > spec.maxLength) invalid(name, `is longer than ${spec.maxLength} characters`);
      if (v.includes('\0')) invalid(name, 'contains a NUL character');
      if (spec.oneOf && !spec.oneOf.includes(v)) invalid(name, `must be one of ${spec.oneOf.join(', ')}`);
      return;
    case 'boolean':
      if (typeof v !== 'boolean') invalid(name, 'must be true or false');
      return;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) invalid(name, 'must be an integer');
      if (spec.min !== undefined && v < spec.min) invalid(name, `must be at least ${spec.min}`);
      if (spec.max !== undefined && v > spec.max) invalid(name, `must be at most ${spec.max}`);
      return;
    case 'string[]':
      if (!Array.isArray(v)) invalid(name, 'must be an array of strings');
      if (spec.max !== undefined && v.length > spec.max) invalid(name, `has more than ${spec.max} entries`);
      for (const s of v) {
        if (typeof s !== 'string' || s.includes('\0') || (spec.maxLength !== undefined && s.length > spec.maxLength)) {
          invalid(name, 'must hold only short strings');
        }
      }
      return;
    case 'lease':
      parseLeaseConfig(v);
      return;
  }
}

// --- lease (one active signer) ---
const LEASE_FIELDS: Record<keyof LeaseConfig, FieldSpec> = {
  bucket: { kind: 'string', maxLength: 63 },
  objectKey: { kind: 'string', maxLength: 1024 },
  ttlMs: { kind: 'int', min: 3_000, max: 300_000 },
  region: { kind: 'string', maxLength: 32 },
  endpoint: { kind: 'string', maxLength: 256 },
};

/** Validate the `lease` object strictly, like the top level (an unknown key is an error). */
export function parseLeaseConfig(v: unknown): LeaseConfig {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) invalid('lease', 'must be an object');
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!Object.prototype.hasOwnProperty.call(LEASE_FIELDS, key)) invalid(`lease.${key}`, 'is not a known setting (see docs/operations.md)');
    checkField(`lease.${key}`, LEASE_FIELDS[key as keyof LeaseConfig], o[key]);
  }
  const bucket = (o.bucket as string | undefined) ?? '';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) invalid('lease.bucket', 'must be an S3 bucket name');
  const objectKey = (o.objectKey as string | undefined) ?? '';
  if (objectKey === '' || objectKey.startsWith('/')) invalid('lease.objectKey', 'must be a non-empty key not starting with /');
  const endpoint = (o.endpoint as string | undefined) ?? '';
  if (endpoint !== '' && !/^https?:\/\/[A-Za-z0-9.\-[\]:]+\/?$/.test(endpoint)) invalid('lease.endpoint', 'must be http(s)://HOST[:PORT]');
  return { bucket, objectKey, ttlMs: (o.ttlMs as number | undefined) ?? 30_000, region: (o.region as string | undefined) ?? '', endpoint };
}

/**
 * Is `address` a `host:port` on loopback? Metrics and health must never listen on a routable
 * interface: they reveal enclave state to whoever can reach them.
 */
export function parseLoopbackAddress(address: string): { host: string; port: number } {
  const m = /^(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})$/.exec(address);
  if (!m) invalid('metricsAddress', 'must be 127.0.0.1:PORT, [::1]:PORT or localhost:PORT (loopback only)');
  const port = Number(m[2]);
  if (port > 65535) invalid('metricsAddress', 'has a port above 65535');
  const host = m[1] === '[::1]' ? '::1' : m[1] === 'localhost' ? '127.0.0.1' : '127.0.0.1';
  return { host, port };
}

/**
 * Validate a parsed config object and fill in defaults. Throws ERR_CONFIG_INVALID on any unknown
 * field, wrong type, out-of-range value or a combination that cannot work.
 */
export function parseConfig(raw: unknown, opts: { baseDir?: string } = {}): DaemonConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) invalid('(root)', 'must be a JSON object');
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!Object.prototype.hasOwnProperty.call(FIELDS, key)) invalid(key, 'is not a known setting (see docs/operations.md)');
    checkField(key, FIELDS[key as keyof DaemonConfig], obj[key]);
  }
  if (obj.mode === undefined) invalid('mode', 'is required ("nitro" or "local")');
  const base = opts.baseDir ?? process.cwd();
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const str = (k: keyof DaemonConfig, d: string): string => (obj[k] as string | undefined) ?? d;
  const int = (k: keyof DaemonConfig, d: number): number => (obj[k] as number | undefined) ?? d;

  const mode = obj.mode as 'nitro' | 'local';
  const home = abs(str('home', DEFAULT_HOME));
  const cid = int('cid', 16);
  const eifPath = str('eifPath', '');
  if (mode === 'nitro' && eifPath === '') invalid('eifPath', 'is required in nitro mode');
  const wireUrl = str('wireUrl', mode === 'nitro' ? `vsock://${cid}:5000` : `unix://${join(home, 'run', 'enclave.sock')}`);
  if (!/^(vsock:\/\/\d+:\d+|unix:\/\/\/.+|tcp:\/\/(127\.0\.0\.1|\[::1\]):\d+)$/.test(wireUrl)) {
    invalid('wireUrl', 'must be vsock://CID:PORT, unix:///absolute/path or tcp://127.0.0.1:PORT');
  }
  if (mode === 'nitro' && !wireUrl.startsWith('vsock://')) invalid('wireUrl', 'must be a vsock:// URL in nitro mode');
  const metricsAddress = str('metricsAddress', '127.0.0.1:9464');
  if (metricsAddress !== '') parseLoopbackAddress(metricsAddress);
  const imdsEndpoint = str('imdsEndpoint', 'http://169.254.169.254');
  if (!/^http:\/\/[A-Za-z0-9.\-[\]:]+$/.test(imdsEndpoint)) invalid('imdsEndpoint', 'must be http://HOST[:PORT]');
  const restartInitialMs = int('restartInitialMs', 1000);
  const restartMaxMs = int('restartMaxMs', 60_000);
  if (restartMaxMs < restartInitialMs) invalid('restartMaxMs', 'must not be below restartInitialMs');
  const controlSocket = abs(str('controlSocket', DEFAULT_CONTROL_SOCKET));
  // sockaddr_un.sun_path is 108 bytes on Linux.
  if (Buffer.byteLength(controlSocket) > 100) invalid('controlSocket', 'path is too long for a unix socket (100 bytes max)');

  return {
    home,
    mode,
    eifPath: eifPath === '' ? '' : abs(eifPath),
    cpuCount: int('cpuCount', 2),
    memoryMiB: int('memoryMiB', 1024),
    cid,
    debug: (obj.debug as boolean | undefined) ?? false,
    bundlePath: abs(str('bundlePath', join(REPO_ROOT, 'build', 'enclave-dev.mjs'))),
    enclaveArgs: [...((obj.enclaveArgs as string[] | undefined) ?? [])],
    wireUrl,
    buildId: str('buildId', ''),
    allowListPath: str('allowListPath', '') === '' ? '' : abs(str('allowListPath', '')),
    imdsEndpoint,
    metricsAddress,
    controlSocket,
    queueLimit: int('queueLimit', 64),
    maxConcurrent: int('maxConcurrent', 4),
    logMaxBytes: int('logMaxBytes', 10 * 1024 * 1024),
    logKeep: int('logKeep', 5),
    restartInitialMs,
    restartMaxMs,
    healthIntervalMs: int('healthIntervalMs', 5000),
    requestTimeoutMs: int('requestTimeoutMs', 120_000),
    ...(obj.lease !== undefined ? { lease: parseLeaseConfig(obj.lease) } : {}),
    storage: parseStorageConfig(obj.storage, mode),
  };
}

/** Read and validate a config file. Relative paths inside it are relative to the file's folder. */
export async function loadConfig(path: string): Promise<DaemonConfig> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_CONFIG_BYTES) invalid('(file)', `is larger than ${MAX_CONFIG_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof CosignerError) throw err;
    throw new CosignerError('ERR_CONFIG_INVALID', `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CosignerError('ERR_CONFIG_INVALID', `config file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(raw, { baseDir: dirname(resolve(path)) });
}
