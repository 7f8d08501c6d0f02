// Both sides of the coordinator link. The opening exchange after TLS: the co-signer says who it is
// (hello, signed with its coordinatorAuthKey, with a fresh client nonce); the coordinator answers
// (welcome, signed with the key fixed at setup, echoing the client nonce and adding its own). The
// connection id is SHA-256(clientNonce ‖ serverNonce), so no envelope from an earlier connection
// verifies on this one, and an old welcome cannot be replayed to the co-signer.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { CosignerError } from '../errors.ts';
import type { FramedSocket } from './connection.ts';
import { AuthChannel, ed25519PublicKey, envelopeSignatureValid, parseEnvelope, sealEnvelope, spkiB64 } from './envelope.ts';

/** Protocol version carried in hello. */
export const PROTOCOL_VERSION = 1;

const NONCE_RE = /^[0-9a-f]{64}$/;

/** A sealed-DB generation on the wire: a non-negative safe integer. */
export function isWireGeneration(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The refusal a co-signer reports when the coordinator remembers a newer sealed DB than the one it
 * runs on: the parent served an older secrets.db (rollback across an enclave restart).
 */
export function rollbackRefusal(generation: number, floor: number): CosignerError {
  return new CosignerError(
    'ERR_ROLLBACK',
    `the secrets DB (generation ${generation}) is older than one this co-signer already used (generation ${floor}, known to the coordinator); ` +
      'restore the newest backup and restart the co-signer. A deliberate restore of an older backup must be acknowledged by the workspace owner at the coordinator, not from the parent instance',
    { details: { generation, coordinatorGeneration: floor } },
  );
}

function connIdOf(clientNonce: string, serverNonce: string): string {
  return createHash('sha256').update(clientNonce + serverNonce, 'utf8').digest('hex').slice(0, 32);
}

function authFail(message: string): never {
  throw new CosignerError('ERR_COORDINATOR_AUTH', message);
}

/**
 * Co-signer side: returns the authenticated channel or throws ERR_COORDINATOR_AUTH / ERR_TIMEOUT.
 * With `generation` (the sealed DB's), hello states it and the welcome must carry the coordinator's
 * high-water mark for this co-signer; a mark above `generation` throws ERR_ROLLBACK.
 */
export async function clientHandshake(
  framed: FramedSocket,
  o: { readonly authKey: KeyObject; readonly authPublicKey: KeyObject; readonly cosignerId: string; readonly coordinatorKey: KeyObject; readonly timeoutMs: number; readonly generation?: number; readonly onWelcome?: (serverNonce: string) => void },
): Promise<AuthChannel> {
  const clientNonce = randomBytes(32).toString('hex');
  if (o.generation !== undefined && !isWireGeneration(o.generation)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'bad sealed DB generation');
  const body = JSON.stringify({ protocol: PROTOCOL_VERSION, cosignerId: o.cosignerId, authPublicKey: spkiB64(o.authPublicKey), clientNonce, ...(o.generation !== undefined ? { generation: o.generation } : {}) });
  framed.write(sealEnvelope(o.authKey, { dir: 'c2s', conn: '', seq: 0, type: 'hello', id: clientNonce.slice(0, 32), body }));
  const env = parseEnvelope(await framed.next(o.timeoutMs));
  if (env.dir !== 's2c' || env.seq !== 0 || env.type !== 'welcome') authFail('expected a welcome from the coordinator');
  if (!envelopeSignatureValid(o.coordinatorKey, env)) authFail('welcome is not signed by the coordinator key fixed at setup');
  let w: { clientNonce?: unknown; serverNonce?: unknown; generation?: unknown };
  try {
    w = JSON.parse(env.body) as typeof w;
  } catch {
    authFail('welcome body is not JSON');
  }
  const welcomeFields = o.generation !== undefined ? 'clientNonce,generation,serverNonce' : 'clientNonce,serverNonce';
  if (typeof w !== 'object' || w === null || Object.keys(w).sort().join(',') !== welcomeFields) authFail('unexpected welcome fields');
  if (w.clientNonce !== clientNonce || typeof w.serverNonce !== 'string' || !NONCE_RE.test(w.serverNonce)) authFail('welcome does not answer this hello');
  if (env.conn !== connIdOf(clientNonce, w.serverNonce)) authFail('welcome names another connection');
  if (o.generation !== undefined) {
    // The welcome is signed by the coordinator key and echoes our nonce: the floor is fresh and
    // comes from outside the parent's reach.
    if (!isWireGeneration(w.generation)) authFail('welcome carries no valid generation mark');
    if (w.generation > o.generation) throw rollbackRefusal(o.generation, w.generation);
  }
  // The serverNonce is the nonce of the co-signer's attestation document (attested-link.ts).
  o.onWelcome?.(w.serverNonce);
  return new AuthChannel(o.authKey, o.coordinatorKey, 'c2s', env.conn);
}

/** What the coordinator learned from a verified hello. */
export interface ServerHandshakeResult {
  readonly channel: AuthChannel;
  readonly cosignerId: string;
  readonly clientKey: KeyObject;
  /** The sealed-DB generation the co-signer stated in hello, if it did. */
  readonly generation: number | undefined;
  /** The welcome's nonce: the co-signer's `attest` document must carry it (attested-link.ts). */
  readonly serverNonce: string;
}

/**
 * Coordinator side. `authorize` decides whether this co-signer id and key may connect (a known
 * pair, or an unknown co-signer that may only pair); it throws to refuse.
 */
export async function serverHandshake(
  framed: FramedSocket,
  o: {
    readonly key: KeyObject;
    readonly authorize: (cosignerId: string, clientKey: KeyObject) => void;
    readonly timeoutMs: number;
    /**
     * Called after `authorize` when hello states a generation: returns the coordinator's high-water
     * mark for this co-signer (sent in the welcome; the co-signer refuses to work if it is higher).
     */
    readonly generationMark?: (cosignerId: string, clientKey: KeyObject, generation: number) => number;
  },
): Promise<ServerHandshakeResult> {
  const env = parseEnvelope(await framed.next(o.timeoutMs));
  if (env.dir !== 'c2s' || env.seq !== 0 || env.type !== 'hello' || env.conn !== '') authFail('expected hello');
  let h: { protocol?: unknown; cosignerId?: unknown; authPublicKey?: unknown; clientNonce?: unknown; generation?: unknown };
  try {
    h = JSON.parse(env.body) as typeof h;
  } catch {
    authFail('hello body is not JSON');
  }
  const helloFields = typeof h === 'object' && h !== null ? Object.keys(h).sort().join(',') : '';
  if (helloFields !== 'authPublicKey,clientNonce,cosignerId,protocol' && helloFields !== 'authPublicKey,clientNonce,cosignerId,generation,protocol') authFail('unexpected hello fields');
  if (h.generation !== undefined && !isWireGeneration(h.generation)) authFail('bad generation');
  if (h.protocol !== PROTOCOL_VERSION) throw new CosignerError('ERR_PROTOCOL_VERSION', 'unsupported coordinator protocol version');
  if (typeof h.cosignerId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(h.cosignerId)) authFail('bad cosigner id');
  if (typeof h.clientNonce !== 'string' || !NONCE_RE.test(h.clientNonce)) authFail('bad client nonce');
  if (typeof h.authPublicKey !== 'string' || h.authPublicKey.length > 200) authFail('bad auth key');
  let clientKey: KeyObject;
  try {
    clientKey = ed25519PublicKey(h.authPublicKey);
  } catch {
    authFail('bad auth key');
  }
  if (!envelopeSignatureValid(clientKey, env)) authFail('hello signature does not verify');
  o.authorize(h.cosignerId, clientKey);
  const generation = h.generation as number | undefined;
  const mark = generation !== undefined ? (o.generationMark?.(h.cosignerId, clientKey, generation) ?? 0) : undefined;
  const serverNonce = randomBytes(32).toString('hex');
  const conn = connIdOf(h.clientNonce, serverNonce);
  const welcome = { clientNonce: h.clientNonce, serverNonce, ...(mark !== undefined ? { generation: mark } : {}) };
  framed.write(sealEnvelope(o.key, { dir: 's2c', conn, seq: 0, type: 'welcome', id: serverNonce.slice(0, 32), body: JSON.stringify(welcome) }));
  return { channel: new AuthChannel(o.key, clientKey, 's2c', conn), cosignerId: h.cosignerId, clientKey, generation, serverNonce };
}
