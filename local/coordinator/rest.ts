// Reference coordinator (test stand-in, loopback only). The owner's REST API: status, pairing
// tokens, users and their approval, generation marks, the policy and transactions. Loopback-only and
// unauthenticated here; a real coordinator authenticates the workspace owner.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { isWireGeneration } from '../../proto/coordinator/handshake.ts';
import { parsePolicy } from './policy.ts';
import { acknowledgeRestore, approveUser, issuePairingToken, notCommitted, type CoordinatorState } from './state.ts';
import { createTransaction } from './transactions.ts';
import { createTransfer, walletAddress } from './wallets.ts';
import { createConfigChange, getConfigChange } from './config-changes.ts';
import { decideChange, listChanges } from './changes.ts';
import { auditRecords } from './audit-log.ts';
import type { PairingSummaryView } from './attestation.ts';

const MAX_REST_BODY = 256 * 1024;

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
  if (code === 'ERR_ALREADY_EXISTS' || code === 'ERR_PAIRING_UNCOMMITTED') return 409;
  return 400;
}

/** HTTP status of a finished transaction: signed, refused by policy or handler, or failed. */
function txStatusCode(status: string): number {
  return status === 'signed' ? 201 : status === 'blocked' || status === 'rejected' ? 403 : 502;
}

/**
 * The owner's view of a pairing: the Callback Handler (URL, auth mode, key fingerprints) and each
 * key's fingerprint (SHA-256 of the group public key) with its t-of-n; the full summary rides along.
 */
function pairingView(summary: PairingSummaryView): Record<string, unknown> {
  return {
    handlerUrl: summary.callback?.url ?? null,
    handlerAuthMode: summary.callback?.authMode ?? null,
    handlerKeyFingerprint: summary.callback?.handlerKeyFingerprint ?? summary.callback?.certificateFingerprint ?? summary.callback?.rootCaFingerprint ?? null,
    keys: summary.keys.map((k) => ({ keyId: k.keyId, scheme: k.scheme, fingerprint: createHash('sha256').update(Buffer.from(k.groupPublicKey, 'hex')).digest('hex'), t: k.threshold, n: k.participants.length })),
    summary,
  };
}

/** Routes about co-signers and users; false when `route` is not one of them. */
async function handleUserRoutes(st: CoordinatorState, route: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
  if (route === 'GET /v1/status') {
    send(res, 200, {
      publicKeyPem: st.key.publicKey.export({ format: 'pem', type: 'spki' }),
      cosigners: [...st.cosigners].map(([id, c]) => ({ id, connected: !!c.conn && !c.conn.closed })),
      users: st.users.size,
      transactions: st.txs.size,
      threshold: st.threshold,
      participants: st.participants.length,
    });
    return true;
  }
  if (route === 'POST /v1/pairing-tokens') {
    const b = (await readJson(req)) as { userId?: unknown; workspace?: unknown; lifetimeMs?: unknown };
    const token = issuePairingToken(st, String(b.userId), String(b.workspace ?? 'default'), typeof b.lifetimeMs === 'number' ? { lifetimeMs: b.lifetimeMs } : {});
    send(res, 201, { token });
    return true;
  }
  if (route === 'GET /v1/users') {
    send(res, 200, { users: [...st.users.values()].map((u) => ({ id: u.id, workspace: u.workspace, status: u.status, cosignerId: u.cosignerId, keys: u.keys.map((k) => ({ scheme: k.scheme, keyId: k.keyId, publicKey: k.groupPublicKey })) })) });
    return true;
  }
  // One user, with the pairing summary the co-signer reported: what the owner approves.
  const one = /^GET \/v1\/users\/([A-Za-z0-9._@-]{1,64})$/.exec(route);
  if (one) {
    const u = st.users.get(one[1] as string);
    if (!u) throw notCommitted(st, one[1] as string);
    else send(res, 200, { id: u.id, workspace: u.workspace, status: u.status, cosignerId: u.cosignerId, pairing: u.summary ? pairingView(u.summary) : null });
    return true;
  }
  // The derived address of one vault for one asset (docs/coordinator-protocol.md).
  const addresses = /^GET \/v1\/users\/([A-Za-z0-9._@-]{1,64})\/addresses$/.exec(route);
  if (addresses) {
    send(res, 200, walletAddress(st, addresses[1], url.searchParams.get('asset'), url.searchParams.get('vault') ?? '0'));
    return true;
  }
  const approve = /^POST \/v1\/users\/([A-Za-z0-9._@-]{1,64})\/approve$/.exec(route);
  if (approve) {
    await approveUser(st, approve[1] as string);
    send(res, 200, { userId: approve[1], status: 'active' });
    return true;
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
      acknowledgeRestore(st, id, b.generation);
    }
    const m = st.marks.get(id);
    if (m) send(res, 200, { cosignerId: id, generation: m.generation });
    else send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no generation mark for this co-signer' } });
    return true;
  }
  return false;
}

/** Routes about the policy and transactions; false when `route` is not one of them. */
async function handleTransactionRoutes(st: CoordinatorState, route: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
  if (route === 'GET /v1/policy') {
    send(res, 200, st.policy);
    return true;
  }
  if (route === 'PUT /v1/policy') {
    try {
      st.policy = parsePolicy(await readJson(req));
    } catch (err) {
      throw new CosignerError('ERR_INVALID_ARGUMENT', (err as Error).message);
    }
    send(res, 200, st.policy);
    return true;
  }
  if (route === 'POST /v1/transactions') {
    const tx = await createTransaction(st, await readJson(req));
    send(res, txStatusCode(tx.status), tx);
    return true;
  }
  // A transfer from a derived vault address: the coordinator builds the chain transaction itself.
  if (route === 'POST /v1/transfers') {
    const tx = await createTransfer(st, await readJson(req));
    send(res, txStatusCode(tx.status), tx);
    return true;
  }
  if (route === 'POST /v1/config-changes') {
    const c = await createConfigChange(st, await readJson(req));
    send(res, c.status === 'approved' ? 201 : c.status === 'rejected' ? 403 : 502, c);
    return true;
  }
  const getChange = /^GET \/v1\/config-changes\/([0-9a-f-]{36})$/.exec(route);
  if (getChange) {
    const c = getConfigChange(st, getChange[1] as string);
    if (c) send(res, 200, c);
    else send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no such configuration change' } });
    return true;
  }
  const getTx = /^GET \/v1\/transactions\/([0-9a-f-]{36})$/.exec(route);
  if (getTx) {
    const tx = st.txs.get(getTx[1] as string);
    if (tx) send(res, 200, tx);
    else send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no such transaction' } });
    return true;
  }
  return false;
}

/** Owner-gated changes; false when `route` is not one of them. */
async function handleChangeRoutes(st: CoordinatorState, route: string, url: URL, res: http.ServerResponse): Promise<boolean> {
  if (route === 'GET /v1/changes') {
    send(res, 200, { changes: listChanges(st, { all: url.searchParams.get('all') === '1' }) });
    return true;
  }
  const decide = /^POST \/v1\/changes\/([A-Za-z0-9._:-]{1,128})\/(approve|reject)$/.exec(route);
  if (decide) {
    send(res, 200, await decideChange(st, decide[1] as string, decide[2] as 'approve' | 'reject'));
    return true;
  }
  return false;
}

async function handleRest(st: CoordinatorState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const route = `${req.method} ${url.pathname}`;
  try {
    if (await handleUserRoutes(st, route, url, req, res)) return;
    if (await handleTransactionRoutes(st, route, req, res)) return;
    if (route === 'GET /v1/audit') {
      // The co-signers' decisions, newest last, each with the id of the authenticated co-signer it came from.
      const only = url.searchParams.get('cosignerId');
      send(res, 200, { records: auditRecords(st, only ?? undefined) });
      return;
    }
    if (await handleChangeRoutes(st, route, url, res)) return;
    send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no such route' } });
  } catch (err) {
    const e = toCosignerError(err);
    send(res, statusOf(e.code), { error: e.toJSON() });
  }
}

/** The owner's REST server (not yet listening). */
export function createRestServer(st: CoordinatorState): http.Server {
  const rest = http.createServer((req, res) => {
    void handleRest(st, req, res).catch((err) => send(res, 500, { error: toCosignerError(err).toJSON() }));
  });
  rest.keepAliveTimeout = 30_000;
  return rest;
}
