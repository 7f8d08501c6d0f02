// Sample Callback Handler (tests and `make demo` only), written the way customers write theirs: an
// HTTP(S) server that reads the raw body, verifies it with the co-signer's public key (`jose`),
// applies its rules and answers a signed (public-key mode) or plain JSON (certificate mode) decision.
// `faults` are test knobs that make it misbehave in the ways the co-signer must survive.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT, base64url } from 'jose';
import { decideConfig, decideTx, type HandlerRules, type Verdict } from './rules.ts';
import type { CallbackAuthMode } from '../../proto/callback-auth-modes.ts';

/** Misbehaviours for tests. All off by default; change them between calls. */
export interface HandlerFaults {
  /** Accept the request and never answer. */
  neverAnswer?: boolean;
  /** Answer after this many ms. */
  delayMs?: number;
  /** Echo a different requestId. */
  wrongRequestId?: boolean;
  /** How to sign the answer (public-key mode). */
  signWith?: 'own-key' | 'wrong-key' | 'alg-none' | 'hs256-public-key';
  /** Send the signed answer cut short. */
  truncate?: boolean;
  /** Pad the answer's body to this many bytes. */
  oversizeBytes?: number;
  /** Answer 302 to this location. */
  redirectTo?: string;
  /** Answer this HTTP status with an empty body. */
  status?: number;
  /** Send the body of the previous answer (for another request) again. */
  replayPrevious?: boolean;
  /** In public-key mode, answer plain JSON (no signature). */
  unsigned?: boolean;
  /** Override the decided action (e.g. 'MAYBE'). */
  action?: string;
}

/** One call the handler saw. */
export interface HandlerCall {
  path: string;
  verified: boolean;
  requestId?: string;
  action?: string;
  rawBody: string;
}

export interface SampleHandlerOptions {
  mode: Extract<CallbackAuthMode, 'public-key' | 'certificate'>;
  /** Serve HTTPS with this certificate (required for certificate mode). */
  tls?: { certPem: string; keyPem: string };
  /** The co-signer's public key (`cosigner print-public-key`), verifies requests in public-key mode. */
  cosignerPublicKeyPem?: string;
  rules?: HandlerRules;
  /** Response signing key algorithm (default RS256). */
  alg?: 'RS256' | 'ES256';
  /**
   * The response-signing private key (PKCS#8 PEM, matching `alg`); a fresh one when absent. The local
   * stack passes the one it kept, so a restarted handler still signs with the key the co-signer sealed.
   */
  privateKeyPem?: string;
  port?: number;
  host?: string;
}

export interface SampleHandler {
  readonly url: string;
  /** The handler's response-signing public key (public-key mode), to configure on the co-signer. */
  readonly publicKeyPem: string;
  readonly calls: HandlerCall[];
  readonly faults: HandlerFaults;
  rules: HandlerRules;
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 128 * 1024;

/** The running handler's keys, knobs and memory, shared by the request steps below. */
interface HandlerContext {
  readonly opts: SampleHandlerOptions;
  readonly alg: 'RS256' | 'ES256';
  readonly own: { publicKey: KeyObject; privateKey: KeyObject };
  wrongKey(): KeyObject;
  readonly publicKeyPem: string;
  readonly cosignerKey: KeyObject | undefined;
  readonly prefix: string;
  readonly seen: Map<string, number>;
  readonly calls: HandlerCall[];
  readonly faults: HandlerFaults;
  readonly pending: Set<http.ServerResponse>;
  previousBody: Buffer | undefined;
  rules: HandlerRules;
}

async function sign(ctx: HandlerContext, answer: Record<string, unknown>): Promise<string> {
  const which = ctx.faults.signWith ?? 'own-key';
  if (which === 'alg-none') {
    return `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(answer))}.`;
  }
  if (which === 'hs256-public-key') {
    return new SignJWT(answer).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(ctx.publicKeyPem));
  }
  const key = which === 'wrong-key' ? ctx.wrongKey() : ctx.own.privateKey;
  return new SignJWT(answer).setProtectedHeader({ alg: ctx.alg }).setIssuedAt().sign(key);
}

/**
 * Read, record and verify a request. Undefined when it has been answered already (too large,
 * unknown path, not verifiable).
 */
async function readRequest(
  ctx: HandlerContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<{ call: HandlerCall; kind: 'tx' | 'config'; request: Record<string, unknown> } | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_REQUEST_BYTES) {
      res.writeHead(413).end();
      return undefined;
    }
    chunks.push(c);
  }
  const rawBody = Buffer.concat(chunks).toString('utf8');
  const path = req.url ?? '';
  const call: HandlerCall = { path, verified: false, rawBody };
  ctx.calls.push(call);
  const kind = path === `${ctx.prefix}/tx_sign_request` ? 'tx' : path === `${ctx.prefix}/config_change_sign_request` ? 'config' : null;
  if (req.method !== 'POST' || kind === null) {
    res.writeHead(404).end();
    return undefined;
  }
  let request: Record<string, unknown>;
  try {
    if (ctx.opts.mode === 'public-key') {
      if (!ctx.cosignerKey) throw new Error('no co-signer key configured');
      const { payload } = await jwtVerify(rawBody, ctx.cosignerKey, { algorithms: ['RS256'] });
      request = payload as Record<string, unknown>;
    } else {
      request = JSON.parse(rawBody) as Record<string, unknown>;
    }
  } catch {
    res.writeHead(401).end();
    return undefined;
  }
  call.verified = true;
  return { call, kind, request };
}

async function handle(ctx: HandlerContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const read = await readRequest(ctx, req, res);
  if (!read) return;
  const { call, kind, request } = read;
  const { faults, opts } = ctx;
  const requestId = String(request.requestId ?? '');
  call.requestId = requestId;
  const n = ctx.seen.get(requestId) ?? 0;
  ctx.seen.set(requestId, n + 1);
  const verdict: Verdict = kind === 'tx' ? decideTx(ctx.rules, request, n) : decideConfig(ctx.rules, request, n);
  const action = faults.action ?? verdict.action;
  call.action = action;
  if (faults.neverAnswer) {
    ctx.pending.add(res);
    res.on('close', () => ctx.pending.delete(res));
    return;
  }
  if (faults.delayMs) await new Promise((r) => setTimeout(r, faults.delayMs));
  if (faults.redirectTo) {
    res.writeHead(302, { location: faults.redirectTo }).end();
    return;
  }
  if (faults.status) {
    res.writeHead(faults.status).end();
    return;
  }
  const answer: Record<string, unknown> = {
    action,
    requestId: faults.wrongRequestId ? `${requestId}-other` : requestId,
    ...(verdict.rejectionReason ? { rejectionReason: verdict.rejectionReason } : {}),
  };
  let body: Buffer;
  if (faults.replayPrevious && ctx.previousBody) {
    body = ctx.previousBody;
  } else if (opts.mode === 'public-key' && !faults.unsigned) {
    let token = await sign(ctx, answer);
    if (faults.truncate) token = token.slice(0, token.length - 10);
    body = Buffer.from(token);
  } else {
    body = Buffer.from(JSON.stringify(answer));
  }
  ctx.previousBody = body;
  if (faults.oversizeBytes && body.length < faults.oversizeBytes) body = Buffer.concat([body, Buffer.alloc(faults.oversizeBytes - body.length, 0x20)]);
  res.writeHead(200, { 'content-type': opts.mode === 'public-key' ? 'text/plain' : 'application/json' }).end(body);
}

function keptKey(pem: string, alg: 'RS256' | 'ES256'): { publicKey: KeyObject; privateKey: KeyObject } {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== (alg === 'RS256' ? 'rsa' : 'ec')) throw new Error(`privateKeyPem is not a key for ${alg}`);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Starts the sample handler on loopback. */
export async function startSampleHandler(opts: SampleHandlerOptions): Promise<SampleHandler> {
  if (opts.mode === 'certificate' && !opts.tls) throw new Error('certificate mode needs tls');
  const alg = opts.alg ?? 'RS256';
  const own = opts.privateKeyPem ? keptKey(opts.privateKeyPem, alg) : alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let wrong: ReturnType<typeof generateKeyPairSync> | undefined; // made on first use: RSA keygen is slow
  const ctx: HandlerContext = {
    opts,
    alg,
    own,
    wrongKey: () => (wrong ??= alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })).privateKey,
    publicKeyPem: own.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    cosignerKey: opts.cosignerPublicKeyPem ? createPublicKey(opts.cosignerPublicKeyPem) : undefined,
    prefix: opts.mode === 'public-key' ? '/v2' : '',
    seen: new Map(),
    calls: [],
    faults: {},
    pending: new Set(),
    previousBody: undefined,
    rules: opts.rules ?? {},
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(ctx, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, listener) : http.createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  return {
    url: `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    publicKeyPem: ctx.publicKeyPem,
    calls: ctx.calls,
    faults: ctx.faults,
    get rules() {
      return ctx.rules;
    },
    set rules(r: HandlerRules) {
      ctx.rules = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of ctx.pending) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
