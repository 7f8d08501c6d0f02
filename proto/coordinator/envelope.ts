// Both sides of the coordinator link. Every message is an envelope signed with Ed25519 by its
// sender: the co-signer with its coordinatorAuthKey (sealed in the enclave), the coordinator with
// the key fixed at setup. The signature covers a domain-separated encoding of (direction,
// connection id, sequence number, type, request id, body), so a message cannot be replayed on
// another connection, in another position, in the other direction, or as another type.
import { createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { CosignerError } from '../errors.ts';

/** Who sent the envelope: client (co-signer) → server (coordinator), or back. */
export type Direction = 'c2s' | 's2c';

/** The wire form. `body` is JSON text so the signed bytes are exactly the bytes received. */
export interface Envelope {
  readonly v: 1;
  readonly dir: Direction;
  readonly conn: string;
  readonly seq: number;
  readonly type: string;
  readonly id: string;
  readonly body: string;
  readonly sig: string;
}

const DOMAIN = Buffer.from('nitro-cosigner/coordinator/v1\0', 'utf8');
const MAX_BODY = 200 * 1024;
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const TYPE_RE = /^[a-z][a-z0-9.]{0,39}$/;

function lp(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(b.length, 0);
  return Buffer.concat([h, b]);
}

/** The exact bytes an envelope's signature covers. */
export function signedBytes(e: Omit<Envelope, 'sig' | 'v'>): Buffer {
  const seq = Buffer.allocUnsafe(8);
  seq.writeBigUInt64BE(BigInt(e.seq), 0);
  return Buffer.concat([DOMAIN, lp(e.dir), lp(e.conn), seq, lp(e.type), lp(e.id), lp(e.body)]);
}

/** Signs an envelope. */
export function sealEnvelope(key: KeyObject, e: Omit<Envelope, 'sig' | 'v'>): Envelope {
  return { v: 1, ...e, sig: edSign(null, signedBytes(e), key).toString('base64') };
}

/** Checks an untrusted JSON value is a well-formed envelope (no unknown fields). */
export function parseEnvelope(value: unknown): Envelope {
  const bad = (why: string): never => {
    throw new CosignerError('ERR_FRAME_MALFORMED', `malformed coordinator envelope: ${why}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('not an object');
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'body,conn,dir,id,seq,sig,type,v') bad('unexpected fields');
  if (o.v !== 1) bad('version');
  if (o.dir !== 'c2s' && o.dir !== 's2c') bad('dir');
  if (typeof o.conn !== 'string' || o.conn.length > 64) bad('conn');
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 0) bad('seq');
  if (typeof o.type !== 'string' || !TYPE_RE.test(o.type)) bad('type');
  if (typeof o.id !== 'string' || !ID_RE.test(o.id)) bad('id');
  if (typeof o.body !== 'string' || o.body.length > MAX_BODY) bad('body');
  if (typeof o.sig !== 'string' || o.sig.length > 100) bad('sig');
  return o as unknown as Envelope;
}

/** Verifies an envelope's signature with `key`. */
export function envelopeSignatureValid(key: KeyObject, e: Envelope): boolean {
  try {
    return edVerify(null, signedBytes(e), key, Buffer.from(e.sig, 'base64'));
  } catch {
    return false;
  }
}

/** Ed25519 public key from PEM or base64 SPKI DER; ERR_CONFIG_INVALID otherwise. */
export function ed25519PublicKey(pemOrSpkiB64: string): KeyObject {
  try {
    const key = pemOrSpkiB64.includes('-----BEGIN')
      ? createPublicKey(pemOrSpkiB64)
      : createPublicKey({ key: Buffer.from(pemOrSpkiB64, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw new CosignerError('ERR_CONFIG_INVALID', 'expected an Ed25519 public key');
  }
}

/** Base64 SPKI DER of a public key (how keys travel in protocol bodies). */
export function spkiB64(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).toString('base64');
}

/**
 * One direction-aware authenticated channel after the handshake: signs what we send with our
 * key and the next sequence number; accepts only the peer's next sequence number, correctly
 * signed, on this connection. Any violation is ERR_COORDINATOR_AUTH and ends the connection.
 */
export class AuthChannel {
  private sendSeq = 0;
  private recvSeq = 0;

  constructor(
    private readonly ownKey: KeyObject,
    private readonly peerKey: KeyObject,
    private readonly sendDir: Direction,
    readonly conn: string,
  ) {}

  seal(type: string, id: string, body: unknown): Envelope {
    this.sendSeq++;
    return sealEnvelope(this.ownKey, { dir: this.sendDir, conn: this.conn, seq: this.sendSeq, type, id, body: JSON.stringify(body ?? null) });
  }

  open(e: Envelope): unknown {
    const want: Direction = this.sendDir === 'c2s' ? 's2c' : 'c2s';
    if (e.dir !== want || e.conn !== this.conn) throw new CosignerError('ERR_COORDINATOR_AUTH', 'envelope for another connection or direction');
    if (!envelopeSignatureValid(this.peerKey, e)) throw new CosignerError('ERR_COORDINATOR_AUTH', 'envelope signature does not verify');
    if (e.seq !== this.recvSeq + 1) throw new CosignerError('ERR_COORDINATOR_AUTH', 'replayed or out-of-order envelope', { details: { expected: this.recvSeq + 1, got: e.seq } });
    this.recvSeq = e.seq;
    try {
      return JSON.parse(e.body) as unknown;
    } catch {
      throw new CosignerError('ERR_FRAME_MALFORMED', 'envelope body is not JSON');
    }
  }
}
