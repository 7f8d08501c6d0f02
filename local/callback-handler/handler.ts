// Sample Callback Handler (tests and `make demo` only), written the way customers write theirs: an
// HTTP(S) server that reads the raw body, verifies it with the co-signer's public key (`jose`),
// applies its rules and answers a signed (public-key mode) or plain JSON (certificate mode) decision.
// `faults` are test knobs that make it misbehave in the ways the co-signer must survive.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
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

/** Starts the sample handler on loopback. */
export async function startSampleHandler(opts: SampleHandlerOptions): Promise<SampleHandler> {
  if (opts.mode === 'certificate' && !opts.tls) throw new Error('certificate mode needs tls');
  const alg = opts.alg ?? 'RS256';
  const own = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let wrong: ReturnType<typeof generateKeyPairSync> | undefined; // made on first use: RSA keygen is slow
  const wrongKey = (): KeyObject =>
    (wrong ??= alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })).privateKey;
  const publicKeyPem = own.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const cosignerKey: KeyObject | undefined = opts.cosignerPublicKeyPem ? createPublicKey(opts.cosignerPublicKeyPem) : undefined;
  const prefix = opts.mode === 'public-key' ? '/v2' : '';
  const seen = new Map<string, number>();
  const calls: HandlerCall[] = [];
  const faults: HandlerFaults = {};
  const pending = new Set<http.ServerResponse>();
  let previousBody: Buffer | undefined;
  const state = { rules: opts.rules ?? {} };

  async function sign(answer: Record<string, unknown>): Promise<string> {
    const which = faults.signWith ?? 'own-key';
    if (which === 'alg-none') {
      return `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(answer))}.`;
    }
    if (which === 'hs256-public-key') {
      return new SignJWT(answer).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(publicKeyPem));
    }
    const key = which === 'wrong-key' ? wrongKey() : own.privateKey;
    return new SignJWT(answer).setProtectedHeader({ alg }).setIssuedAt().sign(key);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(c);
    }
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const path = req.url ?? '';
    const call: HandlerCall = { path, verified: false, rawBody };
    calls.push(call);
    const kind = path === `${prefix}/tx_sign_request` ? 'tx' : path === `${prefix}/config_change_sign_request` ? 'config' : null;
    if (req.method !== 'POST' || kind === null) {
      res.writeHead(404).end();
      return;
    }
    let request: Record<string, unknown>;
    try {
      if (opts.mode === 'public-key') {
        if (!cosignerKey) throw new Error('no co-signer key configured');
        const { payload } = await jwtVerify(rawBody, cosignerKey, { algorithms: ['RS256'] });
        request = payload as Record<string, unknown>;
      } else {
        request = JSON.parse(rawBody) as Record<string, unknown>;
      }
    } catch {
      res.writeHead(401).end();
      return;
    }
    call.verified = true;
    const requestId = String(request.requestId ?? '');
    call.requestId = requestId;
    const n = seen.get(requestId) ?? 0;
    seen.set(requestId, n + 1);
    const verdict: Verdict = kind === 'tx' ? decideTx(state.rules, request, n) : decideConfig(state.rules, request, n);
    const action = faults.action ?? verdict.action;
    call.action = action;
    if (faults.neverAnswer) {
      pending.add(res);
      res.on('close', () => pending.delete(res));
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
    if (faults.replayPrevious && previousBody) {
      body = previousBody;
    } else if (opts.mode === 'public-key' && !faults.unsigned) {
      let token = await sign(answer);
      if (faults.truncate) token = token.slice(0, token.length - 10);
      body = Buffer.from(token);
    } else {
      body = Buffer.from(JSON.stringify(answer));
    }
    previousBody = body;
    if (faults.oversizeBytes && body.length < faults.oversizeBytes) body = Buffer.concat([body, Buffer.alloc(faults.oversizeBytes - body.length, 0x20)]);
    res.writeHead(200, { 'content-type': opts.mode === 'public-key' ? 'text/plain' : 'application/json' }).end(body);
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch(() => {
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
    publicKeyPem,
    calls,
    faults,
    get rules() {
      return state.rules;
    },
    set rules(r: HandlerRules) {
      state.rules = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of pending) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
