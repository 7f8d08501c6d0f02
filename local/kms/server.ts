// KMS stand-in (local stack and tests only): a real loopback HTTPS/HTTP server speaking the KMS
// JSON 1.1 protocol (`POST /`, `x-amz-target: TrentService.<Op>`, SigV4) well enough that an
// unmodified @aws-sdk/client-kms works against it with only an endpoint override. It enforces key
// policies, including the `kms:RecipientAttestation:*` conditions taken from a Recipient document
// checked with the shared attestation verifier, and answers Recipient requests with
// CiphertextForRecipient shaped like KMS's. See README.md beside this file.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { VerifiedAttestation } from '../../proto/attestation/types.ts';
import { verifyAttestation } from '../../proto/attestation/verify.ts';
import type { KeyPolicy } from '../../proto/kms/key-policy.ts';
import { KeyStore } from './key-store.ts';
import { createOperations } from './operations.ts';
import { KmsError, parsePolicyOrThrow } from './sealing.ts';
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

const MAX_BODY = 1024 * 1024;

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

  const ops = createOperations({ store, account, trustRootsPem: opts.trustRootsPem, verify, now, onPlaintext: opts.onPlaintext });

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
