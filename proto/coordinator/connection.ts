// Both sides of the coordinator link. An authenticated, multiplexed request/response connection
// over one byte stream (the TLS socket): either side may send requests; each request gets exactly
// one `reply` envelope carrying the request's id. Bounded: in-flight requests each way, time per
// request, frame size; any authentication failure ends the connection.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { CosignerError, isErrorCode, toCosignerError } from '../errors.ts';
import { type AuthChannel, parseEnvelope, type Envelope } from './envelope.ts';
import { FrameDecoder, encodeFrame } from './framing.ts';

/** Handles a request from the peer; the resolved value is the reply's result. */
export type RequestHandler = (type: string, body: unknown, id: string) => Promise<unknown>;

/** Reads whole frames from a socket; used for the handshake, then handed to PeerConnection. */
export class FramedSocket {
  private readonly decoder = new FrameDecoder();
  private readonly queue: unknown[] = [];
  private waiter: { resolve: (v: unknown) => void; reject: (e: unknown) => void } | undefined;
  private sink: ((frame: unknown) => void) | undefined;
  private failure: CosignerError | undefined;
  private corked = false;
  private closeListeners: ((err: CosignerError) => void)[] = [];

  constructor(readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        this.fail(toCosignerError(err, 'ERR_FRAME_MALFORMED'));
        return;
      }
      for (const f of frames) this.deliver(f);
    });
    socket.on('error', (err) => this.fail(new CosignerError('ERR_CONNECTION_CLOSED', 'coordinator connection error', { cause: err })));
    socket.on('close', () => this.fail(new CosignerError('ERR_CONNECTION_CLOSED', 'coordinator connection closed')));
    // The protocol never half-closes: end of stream from the coordinator is the end of the
    // connection. A relayed TLS socket can report 'end' long before 'close' (the tunnel stays
    // half-open until the wire itself goes away), so waiting for 'close' would leave the client
    // believing it is connected.
    socket.on('end', () => this.fail(new CosignerError('ERR_CONNECTION_CLOSED', 'coordinator ended the connection')));
  }

  private deliver(frame: unknown): void {
    if (this.failure) return;
    if (this.sink) return this.sink(frame);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      return w.resolve(frame);
    }
    if (this.queue.length >= 64) return this.fail(new CosignerError('ERR_LIMIT_EXCEEDED', 'peer sent too many frames during the handshake'));
    this.queue.push(frame);
  }

  /** The next frame, or ERR_TIMEOUT after `timeoutMs`. Handshake only. */
  next(timeoutMs: number): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        reject(new CosignerError('ERR_TIMEOUT', 'coordinator handshake timed out'));
      }, timeoutMs);
      this.waiter = {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      };
    });
  }

  /** Routes every later frame (and any queued one) to `sink`. */
  setSink(sink: (frame: unknown) => void): void {
    this.sink = sink;
    for (const f of this.queue.splice(0)) sink(f);
  }

  onClose(listener: (err: CosignerError) => void): void {
    if (this.failure) listener(this.failure);
    else this.closeListeners.push(listener);
  }

  write(value: unknown): void {
    if (this.failure) throw this.failure;
    const frame = encodeFrame(value);
    // Frames written in the same turn of the event loop (replies to a burst of requests under
    // load) leave in one TLS write instead of one record and syscall each.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => this.uncork());
    }
    this.socket.write(frame);
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  /** Ends the connection with `err` (idempotent). */
  fail(err: CosignerError): void {
    if (this.failure) return;
    this.failure = err;
    this.waiter?.reject(err);
    this.waiter = undefined;
    this.uncork(); // hand what was already written to the socket, as before corking existed
    this.socket.destroy();
    for (const l of this.closeListeners.splice(0)) l(err);
  }

  get failed(): CosignerError | undefined {
    return this.failure;
  }
}

/** Coordinator requests the enclave handles at once (more wait, up to maxPending). The parent's relay budget is derived from it (parent/relay/relay.ts). */
export const COORDINATOR_MAX_INFLIGHT = 64;

export interface PeerConnectionOptions {
  readonly framed: FramedSocket;
  readonly channel: AuthChannel;
  readonly handler: RequestHandler;
  /** Peer requests handled at once; more get ERR_BUSY (default 64). */
  readonly maxInflight?: number;
  /** Our requests waiting for replies (default 256). */
  readonly maxPending?: number;
  /** Default per-request timeout in ms (default 30 000). */
  readonly requestTimeoutMs?: number;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
}

/** The authenticated connection after the handshake. */
export class PeerConnection {
  private readonly pending = new Map<string, Pending>();
  private inflight = 0;
  private readonly opts: Required<Omit<PeerConnectionOptions, 'framed' | 'channel' | 'handler'>>;

  constructor(private readonly o: PeerConnectionOptions) {
    this.opts = { maxInflight: o.maxInflight ?? COORDINATOR_MAX_INFLIGHT, maxPending: o.maxPending ?? 256, requestTimeoutMs: o.requestTimeoutMs ?? 30_000 };
    o.framed.onClose((err) => {
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      this.pending.clear();
    });
    o.framed.setSink((frame) => this.onFrame(frame));
  }

  get conn(): string {
    return this.o.channel.conn;
  }

  get closed(): boolean {
    return this.o.framed.failed !== undefined;
  }

  onClose(listener: (err: CosignerError) => void): void {
    this.o.framed.onClose(listener);
  }

  /** Sends a request and resolves with the peer's result (rejects with its CosignerError). `opts.id` reuses a request id for a retry. */
  request(type: string, body: unknown, opts: { timeoutMs?: number; id?: string } = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(this.o.framed.failed);
    if (this.pending.size >= this.opts.maxPending) return Promise.reject(new CosignerError('ERR_BUSY', 'too many requests waiting for the peer'));
    // A caller retrying a request (e.g. after a reconnect) passes the same id: the peer answers
    // it idempotently.
    const id = opts.id ?? randomUUID();
    if (this.pending.has(id)) return Promise.reject(new CosignerError('ERR_ALREADY_EXISTS', 'a request with this id is already waiting'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CosignerError('ERR_TIMEOUT', `peer did not answer ${type} in time`));
      }, opts.timeoutMs ?? this.opts.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.o.framed.write(this.o.channel.seal(type, id, body));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(toCosignerError(err));
      }
    });
  }

  close(reason = 'closed by this side'): void {
    this.o.framed.fail(new CosignerError('ERR_CONNECTION_CLOSED', reason));
  }

  private onFrame(frame: unknown): void {
    let env: Envelope;
    let body: unknown;
    try {
      env = parseEnvelope(frame);
      body = this.o.channel.open(env);
    } catch (err) {
      this.o.framed.fail(toCosignerError(err, 'ERR_COORDINATOR_AUTH'));
      return;
    }
    if (env.type === 'reply') return this.onReply(env.id, body);
    void this.onRequest(env, body);
  }

  private onReply(id: string, body: unknown): void {
    const p = this.pending.get(id);
    if (!p) return; // late reply after a timeout: authenticated, harmless, dropped
    this.pending.delete(id);
    clearTimeout(p.timer);
    const r = body as { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; details?: unknown } } | null;
    if (r && r.ok === true) return p.resolve(r.result);
    const code = isErrorCode(r?.error?.code) ? r.error.code : 'ERR_INTERNAL';
    const msg = typeof r?.error?.message === 'string' ? r.error.message.slice(0, 300) : 'peer reported an error';
    const details = r?.error?.details && typeof r.error.details === 'object' ? sanitizeDetails(r.error.details as Record<string, unknown>) : undefined;
    p.reject(new CosignerError(code, msg, details ? { details } : {}));
  }

  private async onRequest(env: Envelope, body: unknown): Promise<void> {
    let reply: unknown;
    if (this.inflight >= this.opts.maxInflight) {
      reply = { ok: false, error: new CosignerError('ERR_BUSY', 'too many requests in flight').toJSON() };
    } else {
      this.inflight++;
      try {
        reply = { ok: true, result: (await this.o.handler(env.type, body, env.id)) ?? null };
      } catch (err) {
        reply = { ok: false, error: toCosignerError(err).toJSON() };
      } finally {
        this.inflight--;
      }
    }
    if (this.closed) return;
    try {
      this.o.framed.write(this.o.channel.seal('reply', env.id, reply));
    } catch {
      /* connection already gone */
    }
  }
}

function sanitizeDetails(d: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(d).slice(0, 16)) {
    if (typeof v === 'number' || typeof v === 'boolean') out[k.slice(0, 40)] = v;
    else if (typeof v === 'string') out[k.slice(0, 40)] = v.slice(0, 200);
  }
  return out;
}
