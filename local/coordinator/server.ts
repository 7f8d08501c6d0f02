// Reference coordinator (test stand-in, loopback only; used by end-to-end tests, the benchmark and
// `make demo`). It plays the remote service nitro-cosigner talks to: issues pairing tokens, runs DKG
// with a paired co-signer while holding the other shares itself, records the owner's approval of
// new key shares, applies a Transaction Authorization Policy, dispatches sign requests to the
// co-signer over the authenticated TLS protocol, aggregates, and verifies the final signature with
// a standard verifier (node:crypto Ed25519, BIP-340 schnorr.verify).
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { DkgSession, type WireDkgRound1, type WireDkgRound2 } from '../../enclave/mpc/dkg.ts';
import { messageDigest, type WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { isThresholdScheme } from '../../enclave/mpc/suites.ts';
import { canonicalDigest, verifyApproval } from '../../proto/coordinator/approval-signature.ts';
import { FramedSocket, PeerConnection } from '../../proto/coordinator/connection.ts';
import { ed25519PublicKey, spkiB64 } from '../../proto/coordinator/envelope.ts';
import { isWireGeneration, serverHandshake } from '../../proto/coordinator/handshake.ts';
import { parseDkgRound1List, parseDkgRound2List } from '../../proto/coordinator/messages.ts';
import { createPairingToken, verifyPairingToken } from '../../proto/coordinator/pairing-token.ts';
import type { KeyShareRecord, ThresholdScheme } from '../../enclave/vault/records.ts';
import { DEFAULT_POLICY, evaluatePolicy, parsePolicy, type Policy } from './policy.ts';
import { localSigner, type AggregateResult } from './signer-core.ts';
import { workerSigner } from './signer-pool.ts';
import { writeFileAtomicSync } from '../../parent/storage/write-file-atomic.ts';

export interface CoordinatorOptions {
  /** Where the coordinator key is kept (coordinator-key.pem, 0600); in memory when absent. */
  readonly dir?: string;
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  /** Co-signer endpoint port (0 = any). */
  readonly port?: number;
  /** REST port (0 = any). */
  readonly restPort?: number;
  /** Threshold and participant count of new keys (default 2-of-2; the co-signer is identifier 1). */
  readonly threshold?: number;
  readonly participants?: number;
  readonly policy?: Policy;
  /** Time source for token issue/expiry (tests). */
  readonly now?: () => number;
  /**
   * Worker threads for the per-signature cryptography (own rounds, aggregation, verification);
   * 0 (default) runs it in the main thread. main.ts uses one per core.
   */
  readonly cryptoWorkers?: number;
}

export interface TimingBreakdown {
  approvalMs: number;
  cosignerCommitMs: number;
  ownCommitMs: number;
  cosignerShareMs: number;
  ownShareMs: number;
  aggregateMs: number;
  verifyMs: number;
  totalMs: number;
}

export interface TransactionRecord {
  readonly id: string;
  readonly userId: string;
  readonly asset: string;
  readonly amount: string;
  readonly destination: string;
  readonly scheme: ThresholdScheme;
  readonly payload: string;
  status: 'pending' | 'signing' | 'signed' | 'blocked' | 'rejected' | 'failed';
  policyRule?: string;
  signature?: string;
  publicKey?: string;
  verified?: boolean;
  error?: { code: string; message: string; details?: unknown };
  approval?: { decision: string; signature: string };
  timings?: TimingBreakdown;
}

interface UserKey {
  readonly scheme: ThresholdScheme;
  readonly keyId: string;
  readonly groupPublicKey: string;
  readonly own: KeyShareRecord[];
}

interface UserEntry {
  readonly id: string;
  readonly workspace: string;
  readonly cosignerId: string;
  readonly approvalPublicKey: KeyObject;
  status: 'pending' | 'active';
  readonly keys: UserKey[];
}

interface Pairing {
  readonly id: string;
  readonly userId: string;
  readonly workspace: string;
  readonly cosignerId: string;
  readonly cosignerKey: KeyObject;
  readonly approvalPublicKey: KeyObject;
  readonly schemes: ThresholdScheme[];
  readonly dkg: Map<ThresholdScheme, { parties: DkgSession[]; round1: WireDkgRound1[]; cosigner1?: WireDkgRound1; result?: KeyShareRecord[] }>;
  readonly keys: UserKey[];
}

export interface RunningCoordinator {
  readonly restUrl: string;
  /** `127.0.0.1:port` of the co-signer endpoint. */
  readonly cosignerUrl: string;
  readonly publicKeyPem: string;
  /**
   * The workspace owner's Ed25519 public key. The reference coordinator also holds the owner's private
   * key, standing in for the owner's own device: a real deployment never gives it to the coordinator.
   */
  readonly ownerPublicKeyPem: string;
  issuePairingToken(userId: string, workspace: string, opts?: { lifetimeMs?: number }): string;
  /** Owner approval of a user's new key shares (same as POST /v1/users/:id/approve). */
  approveUser(userId: string): Promise<void>;
  /** Create and run a transaction (same as POST /v1/transactions). */
  createTransaction(input: unknown): Promise<TransactionRecord>;
  /** The sealed-DB generation high-water mark kept for a co-signer (undefined before its first report). */
  generationMark(cosignerId: string): number | undefined;
  /**
   * Owner acknowledgement of a deliberate restore (same as POST /v1/cosigners/:id/generation):
   * sets the co-signer's mark to `generation`, which may be lower than the current one.
   */
  acknowledgeRestore(cosignerId: string, generation: number): void;
  /** Number of connected co-signers. */
  connectedCosigners(): number;
  close(): Promise<void>;
}

function loadOrCreateKey(dir: string | undefined, name = 'coordinator-key.pem'): { privateKey: KeyObject; publicKey: KeyObject } {
  if (dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, name);
    if (existsSync(file)) {
      const privateKey = createPrivateKey(readFileSync(file, 'utf8'));
      return { privateKey, publicKey: createPublicKey(privateKey) };
    }
    const kp = generateKeyPairSync('ed25519');
    writeFileAtomicSync(file, kp.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
    return kp;
  }
  return generateKeyPairSync('ed25519');
}

const MAX_REST_BODY = 256 * 1024;
const MAX_MARKS = 10_000;

/** Per co-signer sealed-DB high-water marks, bound to the co-signer's auth key. */
type Marks = Map<string, { key: string; generation: number }>;

function loadMarks(dir: string | undefined): Marks {
  const marks: Marks = new Map();
  if (!dir) return marks;
  const file = path.join(dir, 'generation-marks.json');
  if (!existsSync(file)) return marks;
  // Fail closed: a damaged file stops the coordinator rather than silently dropping every floor.
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { key?: unknown; generation?: unknown }>;
  for (const [id, m] of Object.entries(raw).slice(0, MAX_MARKS)) {
    if (typeof m?.key !== 'string' || !isWireGeneration(m.generation)) throw new Error(`generation-marks.json: bad entry for ${id}`);
    marks.set(id, { key: m.key, generation: m.generation });
  }
  return marks;
}

function saveMarks(dir: string | undefined, marks: Marks): void {
  if (!dir) return;
  const file = path.join(dir, 'generation-marks.json');
  writeFileAtomicSync(file, JSON.stringify(Object.fromEntries(marks)), 0o600);
}

/** Starts the reference coordinator on loopback. */
export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const key = loadOrCreateKey(opts.dir);
  // Stand-in for the owner's device (see RunningCoordinator.ownerPublicKeyPem).
  const ownerKey = loadOrCreateKey(opts.dir, 'owner-key.pem');
  const now = opts.now ?? Date.now;
  const threshold = opts.threshold ?? 2;
  const signer = opts.cryptoWorkers ? workerSigner(opts.cryptoWorkers) : localSigner();
  const n = opts.participants ?? 2;
  if (threshold < 2 || threshold > n || n > 16) throw new Error('threshold must be 2..participants, participants ≤ 16');
  const participants = Array.from({ length: n }, (_, i) => i + 1);
  const usedTokens = new Set<string>();
  const cosigners = new Map<string, { key: string; conn?: PeerConnection }>();
  const pairings = new Map<string, Pairing>();
  const users = new Map<string, UserEntry>();
  const txs = new Map<string, TransactionRecord>();
  const sockets = new Set<import('node:net').Socket>();
  let policy: Policy = opts.policy ?? DEFAULT_POLICY;
  const marks = loadMarks(opts.dir);

  /**
   * The mark is kept only for a co-signer that paired here (or whose key the mark already names):
   * an unpaired party cannot plant a floor for someone else's co-signer id.
   */
  function markEntry(cosignerId: string, clientKey: KeyObject, create: boolean): { key: string; generation: number } | undefined {
    const k = spkiB64(clientKey);
    const m = marks.get(cosignerId);
    if (m) return m.key === k ? m : undefined;
    if (!create || cosigners.get(cosignerId)?.key !== k || marks.size >= MAX_MARKS) return undefined;
    const fresh = { key: k, generation: 0 };
    marks.set(cosignerId, fresh);
    return fresh;
  }

  /** Raises the mark to `generation`; refuses (ERR_ROLLBACK) a generation below it. */
  function raiseMark(cosignerId: string, clientKey: KeyObject, generation: number): number {
    const m = markEntry(cosignerId, clientKey, true);
    if (!m) return 0;
    if (generation < m.generation) return m.generation;
    if (generation > m.generation) {
      m.generation = generation;
      saveMarks(opts.dir, marks);
    }
    return m.generation;
  }

  // ---- co-signer endpoint (TLS + authenticated envelopes) ----
  const tlsServer = tls.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2' }, (socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void acceptCosigner(socket);
  });

  async function acceptCosigner(socket: tls.TLSSocket): Promise<void> {
    const framed = new FramedSocket(socket);
    try {
      const hs = await serverHandshake(framed, {
        key: key.privateKey,
        timeoutMs: 10_000,
        authorize: (cosignerId, clientKey) => {
          const known = cosigners.get(cosignerId);
          if (known && known.key !== spkiB64(clientKey)) throw new CosignerError('ERR_COORDINATOR_AUTH', 'co-signer key does not match the paired one');
        },
        generationMark: raiseMark,
      });
      const ctx = { cosignerId: hs.cosignerId, clientKey: hs.clientKey };
      const mark = markEntry(hs.cosignerId, hs.clientKey, false)?.generation ?? 0;
      if (hs.generation !== undefined && hs.generation < mark) {
        // The co-signer runs on an older sealed DB than it already used: it refuses to work on
        // reading the welcome; never route requests to it, and drop the socket if it lingers.
        setTimeout(() => framed.fail(new CosignerError('ERR_ROLLBACK', 'co-signer runs on an older secrets DB')), 5_000).unref();
        return;
      }
      const conn = new PeerConnection({ framed, channel: hs.channel, handler: (type, body) => handleCosigner(ctx, type, body) });
      const entry = cosigners.get(hs.cosignerId);
      if (entry) {
        entry.conn?.close('replaced by a newer connection');
        entry.conn = conn;
      } else {
        provisional.set(hs.cosignerId, { key: spkiB64(hs.clientKey), conn });
      }
      conn.onClose(() => {
        const e = cosigners.get(hs.cosignerId);
        if (e?.conn === conn) e.conn = undefined;
        if (provisional.get(hs.cosignerId)?.conn === conn) provisional.delete(hs.cosignerId);
      });
    } catch (err) {
      framed.fail(toCosignerError(err, 'ERR_COORDINATOR_AUTH'));
    }
  }
  /** Connected co-signers that have not paired yet (may only pair). */
  const provisional = new Map<string, { key: string; conn: PeerConnection }>();

  async function handleCosigner(ctx: { cosignerId: string; clientKey: KeyObject }, type: string, body: unknown): Promise<unknown> {
    const b = (body ?? {}) as Record<string, unknown>;
    switch (type) {
      case 'pair.register': {
        const claims = verifyPairingToken(b.token, { coordinatorKey: key.publicKey, now: now(), isUsed: (nonce) => usedTokens.has(nonce) });
        usedTokens.add(claims.nonce);
        if (users.has(claims.userId)) throw new CosignerError('ERR_ALREADY_EXISTS', 'user already paired');
        const schemes = Array.isArray(b.schemes) ? b.schemes : [];
        if (schemes.length === 0 || schemes.length > 2 || !schemes.every(isThresholdScheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'bad schemes');
        const pairing: Pairing = {
          id: randomUUID(),
          userId: claims.userId,
          workspace: claims.workspace,
          cosignerId: ctx.cosignerId,
          cosignerKey: ctx.clientKey,
          approvalPublicKey: ed25519PublicKey(String(b.approvalPublicKey)),
          schemes: schemes as ThresholdScheme[],
          dkg: new Map(),
          keys: [],
        };
        pairings.set(pairing.id, pairing);
        return { pairingId: pairing.id, userId: claims.userId, workspace: claims.workspace, threshold, participants, identifier: 1 };
      }
      case 'dkg.round1': {
        const p = pairingFor(ctx, b.pairingId, b.scheme);
        const scheme = b.scheme as ThresholdScheme;
        if (p.dkg.has(scheme)) throw new CosignerError('ERR_SESSION_ABORTED', 'DKG round 1 repeated');
        const cosigner1 = parseDkgRound1List({ packages: [b.package] })[0] as WireDkgRound1;
        if (cosigner1.identifier !== 1) throw new CosignerError('ERR_INVALID_ARGUMENT', 'co-signer is participant 1');
        const parties = participants.slice(1).map((identifier) => new DkgSession({ scheme, threshold, participants, identifier, now: now() }));
        const round1 = parties.map((d) => d.round1());
        p.dkg.set(scheme, { parties, round1, cosigner1 });
        return { packages: round1 };
      }
      case 'dkg.round2': {
        const p = pairingFor(ctx, b.pairingId, b.scheme);
        const st = p.dkg.get(b.scheme as ThresholdScheme);
        if (!st?.cosigner1 || st.result) throw new CosignerError('ERR_SESSION_ABORTED', 'DKG round 2 out of order');
        const fromCosigner = parseDkgRound2List({ packages: b.packages });
        const all1 = [st.cosigner1, ...st.round1];
        const own2: WireDkgRound2[] = st.parties.flatMap((d, i) => d.round2(all1.filter((r) => r.identifier !== participants[i + 1])));
        const all2 = [...fromCosigner, ...own2];
        st.result = st.parties.map((d, i) => d.round3(all2.filter((r) => r.to === participants[i + 1])));
        return { packages: own2.filter((r) => r.to === 1) };
      }
      case 'dkg.finish': {
        const p = pairingFor(ctx, b.pairingId, b.scheme);
        const scheme = b.scheme as ThresholdScheme;
        const st = p.dkg.get(scheme);
        const first = st?.result?.[0];
        if (!st?.result || !first) throw new CosignerError('ERR_SESSION_ABORTED', 'DKG finish out of order');
        if (b.groupPublicKey !== first.groupPublicKey || b.keyId !== first.keyId || JSON.stringify(b.verifyingShares) !== JSON.stringify(first.verifyingShares)) {
          pairings.delete(p.id);
          throw new CosignerError('ERR_BAD_SHARE', 'co-signer and coordinator disagree on the DKG result', { details: { identifier: 1 } });
        }
        p.keys.push({ scheme, keyId: first.keyId, groupPublicKey: first.groupPublicKey, own: st.result });
        if (p.keys.length === p.schemes.length) {
          users.set(p.userId, { id: p.userId, workspace: p.workspace, cosignerId: p.cosignerId, approvalPublicKey: p.approvalPublicKey, status: 'pending', keys: p.keys });
          pairings.delete(p.id);
          const prov = provisional.get(ctx.cosignerId);
          if (!cosigners.has(ctx.cosignerId)) cosigners.set(ctx.cosignerId, { key: spkiB64(ctx.clientKey), ...(prov ? { conn: prov.conn } : {}) });
          provisional.delete(ctx.cosignerId);
        }
        return { keyId: first.keyId };
      }
      case 'state.generation': {
        if (typeof b !== 'object' || Object.keys(b).join(',') !== 'generation' || !isWireGeneration(b.generation)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'state.generation takes { generation }');
        const m = markEntry(ctx.cosignerId, ctx.clientKey, true);
        if (!m) throw new CosignerError('ERR_PERMISSION_DENIED', 'generation marks are kept for paired co-signers only');
        if (b.generation < m.generation) throw new CosignerError('ERR_ROLLBACK', 'generation is below the high-water mark');
        return { generation: raiseMark(ctx.cosignerId, ctx.clientKey, b.generation) };
      }
      case 'pair.abort': {
        const p = pairings.get(String(b.pairingId));
        if (p && p.cosignerId === ctx.cosignerId) pairings.delete(p.id);
        return {};
      }
      default:
        throw new CosignerError('ERR_UNKNOWN_METHOD', 'unknown request type');
    }
  }

  function pairingFor(ctx: { cosignerId: string }, pairingId: unknown, scheme: unknown): Pairing {
    const p = pairings.get(String(pairingId));
    if (!p || p.cosignerId !== ctx.cosignerId) throw new CosignerError('ERR_NOT_FOUND', 'no such pairing');
    if (!isThresholdScheme(scheme) || !p.schemes.includes(scheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'scheme not in this pairing');
    return p;
  }

  function connFor(user: UserEntry): PeerConnection {
    const conn = cosigners.get(user.cosignerId)?.conn;
    if (!conn || conn.closed) throw new CosignerError('ERR_UNAVAILABLE', 'the co-signer is not connected');
    return conn;
  }

  async function approveUser(userId: string): Promise<void> {
    const user = users.get(userId);
    if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
    await connFor(user).request('user.activate', { userId });
    user.status = 'active';
  }

  // ---- transactions ----
  async function createTransaction(input: unknown): Promise<TransactionRecord> {
    const i = (input ?? {}) as Record<string, unknown>;
    const user = users.get(String(i.userId));
    if (!user) throw new CosignerError('ERR_NOT_FOUND', 'no such user');
    const scheme = (i.scheme ?? 'frost-ed25519') as ThresholdScheme;
    if (!isThresholdScheme(scheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'bad scheme');
    const ukey = user.keys.find((k) => k.scheme === scheme);
    if (!ukey) throw new CosignerError('ERR_NOT_FOUND', 'user has no key for this scheme');
    const str = (v: unknown, name: string, re: RegExp): string => {
      if (typeof v !== 'string' || !re.test(v)) throw new CosignerError('ERR_INVALID_ARGUMENT', `bad ${name}`);
      return v;
    };
    const tx: TransactionRecord = {
      id: randomUUID(),
      userId: user.id,
      asset: str(i.asset, 'asset', /^[A-Za-z0-9._-]{1,32}$/),
      amount: str(i.amount, 'amount', /^[0-9]{1,30}(\.[0-9]{1,18})?$/),
      destination: str(i.destination, 'destination', /^[A-Za-z0-9:._-]{1,128}$/),
      scheme,
      payload: str(i.payload, 'payload', /^(?:[0-9a-f]{2}){1,65536}$/),
      status: 'pending',
    };
    txs.set(tx.id, tx);
    while (txs.size > 10_000) txs.delete(txs.keys().next().value as string);
    const decision = evaluatePolicy(policy, tx);
    tx.policyRule = decision.rule;
    if (decision.action === 'block') {
      tx.status = 'blocked';
      return tx;
    }
    const t0 = performance.now();
    const timings: TimingBreakdown = { approvalMs: 0, cosignerCommitMs: 0, ownCommitMs: 0, cosignerShareMs: 0, ownShareMs: 0, aggregateMs: 0, verifyMs: 0, totalMs: 0 };
    try {
      const conn = connFor(user);
      if (decision.action === 'require-approval') {
        const payload = { txId: tx.id, asset: tx.asset, amount: tx.amount, destination: tx.destination, scheme, payload: tx.payload };
        const r = (await conn.request('approval.request', { userId: user.id, kind: 'transaction', subjectId: tx.id, payload })) as { decision?: string; payloadDigest?: string; signature?: string };
        const payloadDigest = canonicalDigest(payload);
        const decisionWord = r?.decision === 'approve' ? 'approve' : 'reject';
        const ok = typeof r?.signature === 'string' && r.payloadDigest === payloadDigest && verifyApproval(user.approvalPublicKey, { kind: 'transaction', userId: user.id, subjectId: tx.id, payloadDigest, decision: decisionWord }, r.signature);
        if (!ok) throw new CosignerError('ERR_COORDINATOR_AUTH', 'co-signer approval signature does not verify');
        tx.approval = { decision: decisionWord, signature: r.signature as string };
        timings.approvalMs = performance.now() - t0;
        if (decisionWord !== 'approve') {
          tx.status = 'rejected';
          return tx;
        }
      }
      tx.status = 'signing';
      const message = Uint8Array.from(Buffer.from(tx.payload, 'hex'));
      const signers = participants.slice(0, threshold);
      const own = ukey.own.filter((k) => signers.includes(k.identifier));
      const sessionId = `${tx.id}:1`;
      let t = performance.now();
      let sig: AggregateResult;
      const commitReq = conn.request('sign.commit', {
        sessionId,
        userId: user.id,
        keyId: ukey.keyId,
        message: tx.payload,
        signers,
        transaction: { txId: tx.id, asset: tx.asset, amount: tx.amount, destination: tx.destination },
      }) as Promise<{ commitment: WireCommitment }>;
      // The co-signer may refuse before our own commitment is ready: mark the rejection as handled
      // now (it is still seen by the `await commitReq` below), or Node reports it as unhandled.
      commitReq.catch(() => undefined);
      const t1 = performance.now();
      const ownCommitments: WireCommitment[] = await signer.commit({ sessionId, keys: own, message, signers });
      timings.ownCommitMs = performance.now() - t1;
      try {
        const { commitment } = await commitReq;
        timings.cosignerCommitMs = performance.now() - t;
        const commitments = [commitment, ...ownCommitments];
        t = performance.now();
        const shareReq = conn.request('sign.share', { sessionId, keyId: ukey.keyId, messageDigest: messageDigest(message), commitments }) as Promise<{ signatureShare: string }>;
        shareReq.catch(() => undefined); // awaited below, after our own shares are started
        const t2 = performance.now();
        const ownShares = signer.sign(sessionId, commitments).finally(() => (timings.ownShareMs = performance.now() - t2));
        void ownShares.catch(() => undefined);
        const cosignerShare = (await shareReq).signatureShare;
        timings.cosignerShareMs = performance.now() - t;
        await ownShares;
        sig = await signer.aggregate(sessionId, { 1: cosignerShare });
      } finally {
        signer.abort(sessionId); // no-op once aggregated; drops the nonces on any failure
      }
      timings.aggregateMs = sig.aggregateMs;
      timings.verifyMs = sig.verifyMs;
      if (!sig.verified) throw new CosignerError('ERR_BAD_SHARE', 'final signature does not verify');
      tx.signature = sig.signature;
      tx.publicKey = ukey.groupPublicKey;
      tx.verified = true;
      tx.status = 'signed';
    } catch (err) {
      const e = toCosignerError(err);
      tx.status = e.code === 'ERR_CALLBACK_REJECTED' ? 'rejected' : 'failed';
      tx.error = e.toJSON();
    }
    timings.totalMs = performance.now() - t0;
    tx.timings = timings;
    return tx;
  }

  function acknowledgeRestore(cosignerId: string, generation: number): void {
    if (!isWireGeneration(generation)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'generation must be a non-negative integer');
    const m = marks.get(cosignerId);
    if (!m) throw new CosignerError('ERR_NOT_FOUND', 'no generation mark for this co-signer');
    m.generation = generation;
    saveMarks(opts.dir, marks);
  }

  function issuePairingToken(userId: string, workspace: string, o: { lifetimeMs?: number } = {}): string {
    return createPairingToken({ userId, workspace, now: now(), ...(o.lifetimeMs !== undefined ? { lifetimeMs: o.lifetimeMs } : {}) }, key).token;
  }

  // ---- REST API ----
  const rest = http.createServer((req, res) => {
    void handleRest(req, res).catch((err) => send(res, 500, { error: toCosignerError(err).toJSON() }));
  });
  rest.keepAliveTimeout = 30_000;

  function send(res: http.ServerResponse, status: number, body: unknown): void {
    const data = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
  }

  async function readJson(req: http.IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_REST_BODY) throw new CosignerError('ERR_LIMIT_EXCEEDED', 'request body too large');
      chunks.push(c as Buffer);
    }
    if (size === 0) return {};
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new CosignerError('ERR_INVALID_ARGUMENT', 'body is not JSON');
    }
  }

  function statusOf(code: string): number {
    if (code === 'ERR_NOT_FOUND') return 404;
    if (code === 'ERR_UNAVAILABLE' || code === 'ERR_COORDINATOR_UNAVAILABLE') return 503;
    if (code === 'ERR_ALREADY_EXISTS') return 409;
    return 400;
  }

  async function handleRest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = `${req.method} ${url.pathname}`;
    try {
      if (route === 'GET /v1/status') {
        return send(res, 200, {
          publicKeyPem: key.publicKey.export({ format: 'pem', type: 'spki' }),
          cosigners: [...cosigners].map(([id, c]) => ({ id, connected: !!c.conn && !c.conn.closed })),
          users: users.size,
          transactions: txs.size,
          threshold,
          participants: n,
        });
      }
      if (route === 'POST /v1/pairing-tokens') {
        const b = (await readJson(req)) as { userId?: unknown; workspace?: unknown; lifetimeMs?: unknown };
        const token = issuePairingToken(String(b.userId), String(b.workspace ?? 'default'), typeof b.lifetimeMs === 'number' ? { lifetimeMs: b.lifetimeMs } : {});
        return send(res, 201, { token });
      }
      if (route === 'GET /v1/users') {
        return send(res, 200, { users: [...users.values()].map((u) => ({ id: u.id, workspace: u.workspace, status: u.status, cosignerId: u.cosignerId, keys: u.keys.map((k) => ({ scheme: k.scheme, keyId: k.keyId, publicKey: k.groupPublicKey })) })) });
      }
      const approve = /^POST \/v1\/users\/([A-Za-z0-9._@-]{1,64})\/approve$/.exec(route);
      if (approve) {
        await approveUser(approve[1] as string);
        return send(res, 200, { userId: approve[1], status: 'active' });
      }
      // Owner acknowledgement of a deliberate restore of an older secrets DB. The reference
      // coordinator's REST is loopback-only and unauthenticated; a real one requires the
      // workspace owner's authentication here (never the co-signer's parent instance).
      const gen = /^(GET|POST) \/v1\/cosigners\/([A-Za-z0-9._:-]{1,128})\/generation$/.exec(route);
      if (gen) {
        const id = gen[2] as string;
        if (gen[1] === 'POST') {
          const b = (await readJson(req)) as { generation?: unknown };
          if (!isWireGeneration(b.generation)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'generation must be a non-negative integer');
          acknowledgeRestore(id, b.generation);
        }
        const m = marks.get(id);
        return m ? send(res, 200, { cosignerId: id, generation: m.generation }) : send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no generation mark for this co-signer' } });
      }
      if (route === 'GET /v1/policy') return send(res, 200, policy);
      if (route === 'PUT /v1/policy') {
        try {
          policy = parsePolicy(await readJson(req));
        } catch (err) {
          throw new CosignerError('ERR_INVALID_ARGUMENT', (err as Error).message);
        }
        return send(res, 200, policy);
      }
      if (route === 'POST /v1/transactions') {
        const tx = await createTransaction(await readJson(req));
        const code = tx.status === 'signed' ? 201 : tx.status === 'blocked' || tx.status === 'rejected' ? 403 : 502;
        return send(res, code, tx);
      }
      const getTx = /^GET \/v1\/transactions\/([0-9a-f-]{36})$/.exec(route);
      if (getTx) {
        const tx = txs.get(getTx[1] as string);
        return tx ? send(res, 200, tx) : send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no such transaction' } });
      }
      return send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no such route' } });
    } catch (err) {
      const e = toCosignerError(err);
      return send(res, statusOf(e.code), { error: e.toJSON() });
    }
  }

  await new Promise<void>((resolve, reject) => tlsServer.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', resolve));
  await new Promise<void>((resolve, reject) => rest.once('error', reject).listen(opts.restPort ?? 0, '127.0.0.1', resolve));
  const tlsPort = (tlsServer.address() as AddressInfo).port;
  const restPort = (rest.address() as AddressInfo).port;

  return {
    restUrl: `http://127.0.0.1:${restPort}`,
    cosignerUrl: `127.0.0.1:${tlsPort}`,
    publicKeyPem: key.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    ownerPublicKeyPem: ownerKey.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    issuePairingToken,
    approveUser,
    createTransaction,
    generationMark: (id) => marks.get(id)?.generation,
    acknowledgeRestore,
    connectedCosigners: () => [...cosigners.values()].filter((c) => c.conn && !c.conn.closed).length,
    async close() {
      for (const c of cosigners.values()) c.conn?.close('coordinator closing');
      for (const c of provisional.values()) c.conn.close('coordinator closing');
      for (const s of sockets) s.destroy();
      rest.closeAllConnections();
      await Promise.all([new Promise((r) => tlsServer.close(r)), new Promise((r) => rest.close(r)), signer.close()]);
    },
  };
}
