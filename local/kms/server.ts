// KMS stand-in (local stack and tests only): a real loopback HTTPS/HTTP server speaking the KMS
// JSON 1.1 protocol (`POST /`, `x-amz-target: TrentService.<Op>`, SigV4) well enough that an
// unmodified @aws-sdk/client-kms works against it with only an endpoint override. It enforces key
// policies, including the `kms:RecipientAttestation:*` conditions taken from a Recipient document
// checked with the shared attestation verifier, and answers Recipient requests with
// CiphertextForRecipient shaped like KMS's. See README.md beside this file.
import { createCipheriv, createDecipheriv, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { VerifiedAttestation } from '../../proto/attestation/types.ts';
import { verifyAttestation } from '../../proto/attestation/verify.ts';
import { evaluatePolicy, parseKeyPolicy, recipientContext, type KeyPolicy } from '../../proto/kms/key-policy.ts';
import { buildEnvelope } from './cms.ts';
import { KeyStore, type StoredKey } from './key-store.ts';
import { SigV4Error, verifySigV4, type PrincipalLookup, type SigV4Principal } from './sigv4.ts';

/** Checks a Recipient attestation document; must throw if it does not verify against the roots. */
export type RecipientVerifier = (doc: Uint8Array, trustRootsPem: readonly string[], at: number) => Promise<VerifiedAttestation> | VerifiedAttestation;

export interface KmsStandinOptions {
  /** Where keys persist (keys/<id>.json). Restarting on the same dir keeps them. */
  readonly dir: string;
  /** Attestation roots a Recipient document must chain to (the dev authority's, or AWS's). */
  readonly trustRootsPem: readonly string[];
  /** Serve HTTPS with this certificate; plain HTTP without it. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  /** accessKeyId → secret and principal ARN, or a lookup (e.g. the IMDS stand-in's issued credentials). */
  readonly principals?: Readonly<Record<string, SigV4Principal>> | PrincipalLookup;
  readonly port?: number;
  readonly host?: string;
  readonly region?: string;
  readonly account?: string;
  /** Replaces the shared verifier (tests of the stand-in itself only). */
  readonly verifyRecipient?: RecipientVerifier;
  /** Clock for SigV4 skew and attestation validity. */
  readonly now?: () => number;
  /** Test hook: sees every plaintext the stand-in releases or generates (canary tests). */
  readonly onPlaintext?: (operation: string, plaintext: Uint8Array) => void;
}

export interface KmsStandin {
  readonly url: string;
  readonly port: number;
  readonly region: string;
  readonly account: string;
  /** Counts of handled operations, for tests and the benchmark. */
  readonly stats: Record<string, number>;
  /** Creates a key directly (the demo and tests; CreateKey over the API works too). */
  createKey(policy: KeyPolicy | string, description?: string): Promise<{ keyId: string; arn: string }>;
  close(): Promise<void>;
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const MAX_BODY = 1024 * 1024;
const MAX_PLAINTEXT = 4096;
const BLOB_VERSION = 1;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64(v: unknown, field: string, max = 64 * 1024): Buffer {
  if (typeof v !== 'string' || !B64_RE.test(v) || v.length > Math.ceil(max / 3) * 4) {
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint`);
  }
  return Buffer.from(v, 'base64');
}

function str(v: unknown, field: string, max = 2048): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint`);
  }
  return v;
}

function encryptionContext(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new KmsError('ValidationException', 'EncryptionContext must be a map');
  const out: Record<string, string> = {};
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 64) throw new KmsError('ValidationException', 'EncryptionContext too large');
  for (const [k, val] of entries) out[str(k, 'encryptionContext.key', 256)] = str(val, 'encryptionContext.value', 1024);
  return out;
}

/** AAD for a ciphertext blob: key id plus the canonical (sorted) encryption context. */
function aad(keyId: string, ctx: Record<string, string>): Buffer {
  const sorted = Object.keys(ctx).sort().map((k) => [k, ctx[k]]);
  return Buffer.from(JSON.stringify(['nitro-cosigner-kms-standin/1', keyId, sorted]));
}

function seal(key: StoredKey, plaintext: Buffer, ctx: Record<string, string>): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', Buffer.from(key.material, 'hex'), iv);
  c.setAAD(aad(key.keyId, ctx));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  const id = Buffer.from(key.keyId, 'ascii');
  return Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id, iv, c.getAuthTag(), ct]);
}

function parseBlob(blob: Buffer): { keyId: string; iv: Buffer; tag: Buffer; ct: Buffer } {
  const bad = (): never => {
    throw new KmsError('InvalidCiphertextException', '');
  };
  if (blob.length < 2 + 36 + 28 || blob[0] !== BLOB_VERSION || blob[1] !== 36) bad();
  const keyId = blob.subarray(2, 38).toString('ascii');
  return { keyId, iv: blob.subarray(38, 50), tag: blob.subarray(50, 66), ct: blob.subarray(66) };
}

function unseal(key: StoredKey, p: ReturnType<typeof parseBlob>, ctx: Record<string, string>): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', Buffer.from(key.material, 'hex'), p.iv);
    d.setAAD(aad(key.keyId, ctx));
    d.setAuthTag(p.tag);
    return Buffer.concat([d.update(p.ct), d.final()]);
  } catch {
    throw new KmsError('InvalidCiphertextException', '');
  }
}

function keyMetadata(k: StoredKey, account: string): Record<string, unknown> {
  return {
    AWSAccountId: account,
    KeyId: k.keyId,
    Arn: k.arn,
    CreationDate: k.createdAt / 1000,
    Enabled: k.enabled,
    Description: k.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: k.enabled ? 'Enabled' : 'Disabled',
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

/** KMS accepts a Recipient document for a few minutes after it was made. */
const RECIPIENT_MAX_AGE_MS = 5 * 60 * 1000;

const sharedVerifier: RecipientVerifier = (doc, roots, at) =>
  verifyAttestation(doc, { roots: roots.map((pem) => ({ pem })), at, maxAgeMs: RECIPIENT_MAX_AGE_MS, allowDebug: true });

/**
 * Starts the stand-in. Resolves once it listens on loopback.
 *
 * @example
 * const kms = await startKmsStandin({ dir, trustRootsPem: [authority.rootPem], tls, principals: { AKID: { secretAccessKey, arn } } });
 * const key = await kms.createKey(policy);
 */
export async function startKmsStandin(opts: KmsStandinOptions): Promise<KmsStandin> {
  const region = opts.region ?? 'us-east-1';
  const account = opts.account ?? '111122223333';
  const now = opts.now ?? Date.now;
  const store = new KeyStore(opts.dir, region, account);
  const verify = opts.verifyRecipient ?? sharedVerifier;
  const lookup: PrincipalLookup =
    typeof opts.principals === 'function'
      ? opts.principals
      : (id) => (opts.principals && Object.prototype.hasOwnProperty.call(opts.principals, id) ? (opts.principals as Record<string, SigV4Principal>)[id] : undefined);
  const stats: Record<string, number> = {};

  const defaultPolicy = (principalArn: string): KeyPolicy => ({
    Version: '2012-10-17',
    Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${principalArn.split(':')[4]}:root` }, Action: 'kms:*', Resource: '*' }],
  });

  const requireKey = (id: unknown): StoredKey => {
    const k = store.find(str(id, 'keyId'));
    if (!k) throw new KmsError('NotFoundException', `Key '${String(id)}' does not exist`);
    if (!k.enabled) throw new KmsError('DisabledException', `${k.arn} is disabled.`);
    return k;
  };

  const authorize = (k: StoredKey | undefined, principalArn: string, action: string, context: Record<string, string>): void => {
    const policy = k?.policy;
    const resource = k?.arn ?? '*';
    if (!policy || !evaluatePolicy(policy, { principalArn, action: `kms:${action}`, resourceArn: resource, context })) {
      throw new KmsError(
        'AccessDeniedException',
        `User: ${principalArn} is not authorized to perform: kms:${action} on resource: ${resource} because no resource-based policy allows the kms:${action} action`,
      );
    }
  };

  /** Verifies a Recipient, returning the RSA key to seal to and the condition keys it brings. */
  const recipient = async (r: unknown): Promise<{ key: KeyObject; context: Record<string, string> } | null> => {
    if (r === undefined || r === null) return null;
    if (typeof r !== 'object') throw new KmsError('ValidationException', 'Recipient must be a structure');
    const { KeyEncryptionAlgorithm, AttestationDocument } = r as Record<string, unknown>;
    if (KeyEncryptionAlgorithm !== 'RSAES_OAEP_SHA_256') throw new KmsError('ValidationException', 'KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256');
    const doc = b64(AttestationDocument, 'recipient.attestationDocument', 16 * 1024);
    let v: VerifiedAttestation;
    try {
      v = await verify(doc, opts.trustRootsPem, now());
    } catch {
      throw new KmsError('ValidationException', 'The attestation document in the Recipient is not valid');
    }
    if (!v.publicKey) throw new KmsError('ValidationException', 'The attestation document has no public key');
    let key: KeyObject;
    try {
      key = createPublicKey({ key: Buffer.from(v.publicKey), format: 'der', type: 'spki' });
    } catch {
      throw new KmsError('ValidationException', 'The attestation document public key is not a SubjectPublicKeyInfo');
    }
    if (key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048) {
      throw new KmsError('ValidationException', 'The attestation document public key must be RSA-2048');
    }
    return { key, context: recipientContext(v.pcrs) };
  };

  const contextKeys = (ec: Record<string, string>): Record<string, string> =>
    Object.fromEntries(Object.entries(ec).map(([k, v]) => [`kms:EncryptionContext:${k}`, v]));

  const ops: Record<string, (body: Record<string, unknown>, principalArn: string) => Promise<Record<string, unknown>>> = {
    async CreateKey(b, principalArn) {
      const policy = b.Policy === undefined ? defaultPolicy(principalArn) : parsePolicyOrThrow(b.Policy);
      if (b.KeySpec !== undefined && b.KeySpec !== 'SYMMETRIC_DEFAULT') throw new KmsError('UnsupportedOperationException', 'only SYMMETRIC_DEFAULT keys');
      const k = await store.create(policy, typeof b.Description === 'string' ? b.Description.slice(0, 8192) : '');
      return { KeyMetadata: keyMetadata(k, account) };
    },
    async DescribeKey(b, p) {
      const k = requireKey(b.KeyId);
      authorize(k, p, 'DescribeKey', {});
      return { KeyMetadata: keyMetadata(k, account) };
    },
    async GetKeyPolicy(b, p) {
      const k = requireKey(b.KeyId);
      authorize(k, p, 'GetKeyPolicy', {});
      if (b.PolicyName !== undefined && b.PolicyName !== 'default') throw new KmsError('NotFoundException', 'No such policy exists');
      return { Policy: JSON.stringify(k.policy), PolicyName: 'default' };
    },
    async PutKeyPolicy(b, p) {
      const k = requireKey(b.KeyId);
      authorize(k, p, 'PutKeyPolicy', {});
      if (b.PolicyName !== undefined && b.PolicyName !== 'default') throw new KmsError('ValidationException', 'PolicyName must be default');
      await store.update({ ...k, policy: parsePolicyOrThrow(b.Policy) });
      return {};
    },
    async Encrypt(b, p) {
      const k = requireKey(b.KeyId);
      const ec = encryptionContext(b.EncryptionContext);
      authorize(k, p, 'Encrypt', contextKeys(ec));
      const pt = b64(b.Plaintext, 'plaintext', MAX_PLAINTEXT);
      if (pt.length === 0) throw new KmsError('ValidationException', 'Plaintext must not be empty');
      return { CiphertextBlob: seal(k, pt, ec).toString('base64'), KeyId: k.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    async Decrypt(b, p) {
      const blob = parseBlob(b64(b.CiphertextBlob, 'ciphertextBlob', 6144));
      const k = store.find(blob.keyId);
      if (!k) throw new KmsError('InvalidCiphertextException', '');
      if (b.KeyId !== undefined && requireKey(b.KeyId).keyId !== k.keyId) {
        throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
      }
      if (b.EncryptionAlgorithm !== undefined && b.EncryptionAlgorithm !== 'SYMMETRIC_DEFAULT') throw new KmsError('IncorrectKeyException', 'wrong algorithm');
      const ec = encryptionContext(b.EncryptionContext);
      const rcp = await recipient(b.Recipient);
      authorize(k, p, 'Decrypt', { ...contextKeys(ec), ...(rcp?.context ?? {}) });
      const pt = unseal(k, blob, ec);
      opts.onPlaintext?.('Decrypt', Buffer.from(pt));
      try {
        if (rcp) return { KeyId: k.arn, CiphertextForRecipient: buildEnvelope(pt, rcp.key).toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
        return { KeyId: k.arn, Plaintext: pt.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      } finally {
        pt.fill(0);
      }
    },
    async GenerateDataKey(b, p) {
      const k = requireKey(b.KeyId);
      let n: number;
      if (b.KeySpec !== undefined && b.NumberOfBytes !== undefined) throw new KmsError('ValidationException', 'KeySpec or NumberOfBytes, not both');
      if (b.KeySpec === 'AES_256') n = 32;
      else if (b.KeySpec === 'AES_128') n = 16;
      else if (typeof b.NumberOfBytes === 'number' && Number.isInteger(b.NumberOfBytes) && b.NumberOfBytes >= 1 && b.NumberOfBytes <= 1024) n = b.NumberOfBytes;
      else throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
      const ec = encryptionContext(b.EncryptionContext);
      const rcp = await recipient(b.Recipient);
      authorize(k, p, 'GenerateDataKey', { ...contextKeys(ec), ...(rcp?.context ?? {}) });
      const pt = randomBytes(n);
      opts.onPlaintext?.('GenerateDataKey', Buffer.from(pt));
      try {
        const out: Record<string, unknown> = { KeyId: k.arn, CiphertextBlob: seal(k, pt, ec).toString('base64') };
        if (rcp) out.CiphertextForRecipient = buildEnvelope(pt, rcp.key).toString('base64');
        else out.Plaintext = pt.toString('base64');
        return out;
      } finally {
        pt.fill(0);
      }
    },
    async GenerateRandom(b) {
      const n = b.NumberOfBytes;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1024) throw new KmsError('ValidationException', 'NumberOfBytes must be 1..1024');
      const rcp = await recipient(b.Recipient);
      const pt = randomBytes(n);
      if (rcp) return { CiphertextForRecipient: buildEnvelope(pt, rcp.key).toString('base64') };
      return { Plaintext: pt.toString('base64') };
    },
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const send = (status: number, body: unknown, errType?: string): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': randomBytes(16).toString('hex'),
        ...(errType ? { 'x-amzn-errortype': `${errType}:` } : {}),
      });
      res.end(text);
    };
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_BODY) throw new KmsError('ValidationException', 'request too large', 413);
        chunks.push(c as Buffer);
      }
      const body = Buffer.concat(chunks);
      if (req.method !== 'POST' || (req.url ?? '/') !== '/') throw new KmsError('UnknownOperationException', 'only POST /', 404);
      const target = req.headers['x-amz-target'];
      const op = typeof target === 'string' && target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
      const fn = Object.prototype.hasOwnProperty.call(ops, op) ? ops[op] : undefined;
      if (!fn) throw new KmsError('UnknownOperationException', `unsupported operation ${op || '(none)'}`);
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) throw new KmsError('ValidationException', 'content-type must be application/x-amz-json-1.1');
      let principal: SigV4Principal;
      try {
        principal = verifySigV4({ method: req.method, path: req.url ?? '/', headers: req.headers, body }, { service: 'kms', region, lookup, now: now() }).principal;
      } catch (err) {
        if (err instanceof SigV4Error) throw new KmsError(err.type, err.message, err.type === 'MissingAuthenticationTokenException' ? 403 : 400);
        throw err;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8') || '{}');
      } catch {
        throw new KmsError('SerializationException', 'body is not JSON');
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new KmsError('SerializationException', 'body is not an object');
      const out = await fn(parsed as Record<string, unknown>, principal.arn);
      stats[op] = (stats[op] ?? 0) + 1;
      send(200, out);
    } catch (err) {
      if (err instanceof KmsError) {
        stats[`error:${err.type}`] = (stats[`error:${err.type}`] ?? 0) + 1;
        send(err.status, { __type: err.type, message: err.message }, err.type);
      } else {
        send(500, { __type: 'KMSInternalException', message: 'internal error' }, 'KMSInternalException');
      }
    }
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void handle(req, res);
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, listener) : http.createServer(listener);
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = 64;
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') throw new Error('the KMS stand-in listens on loopback only');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    region,
    account,
    stats,
    async createKey(policy, description = '') {
      const k = await store.create(typeof policy === 'string' ? parsePolicyOrThrow(policy) : policy, description);
      return { keyId: k.keyId, arn: k.arn };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function parsePolicyOrThrow(p: unknown): KeyPolicy {
  if (typeof p !== 'string') throw new KmsError('MalformedPolicyDocumentException', 'Policy must be a string');
  try {
    return parseKeyPolicy(p);
  } catch (err) {
    throw new KmsError('MalformedPolicyDocumentException', (err as Error).message);
  }
}
