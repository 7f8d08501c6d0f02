// Both sides. One connection between the parent and the enclave: handshake, unary RPC with
// deadlines and cancellation, multiplexed byte streams (tunnels) with flow control, keepalive and
// graceful close. Everything the remote sends is validated and bounded before it is acted on.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import type protobuf from 'protobufjs';
import { CosignerError, toCosignerError } from '../errors.ts';
import { dialTransport, listenTransport } from '../transport/index.ts';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, MAX_FRAME_BYTES_CEILING, DATA_HEADER_MAX, dataFrameHeaderLength, encodeFrame, writeDataFrameHeader, type DecodedFrame } from './framing.ts';
import { PROTOCOL_VERSION, TO_OBJECT, loadSchema, type Schema } from './schema.ts';
import { ServedCall } from './served-call.ts';
import { MAX_WINDOW, MuxStream, type StreamHost } from './stream.ts';
import { fromWireError, toWireError } from './wire-error.ts';

/** Options for one side of the wire. Only role and buildId are required. */
export interface PeerOptions {
  role: 'parent' | 'enclave';
  buildId: string;
  /** Largest frame accepted (and sent). Default 1 MiB. */
  maxFrameBytes?: number;
  /** Refuse a remote with a different build id (ERR_BUILD_MISMATCH). Default false. */
  requireSameBuild?: boolean;
  logger?: pino.Logger;
  /** Streams + calls the remote may have open towards us at once. Default 1024. */
  maxConcurrentStreams?: number;
  /** Receive window per stream, bytes. Default 256 KiB. */
  initialWindow?: number;
  /** Deadline of a call when the caller gives none. Default 30 s. */
  defaultDeadlineMs?: number;
  /** Upper bound on any deadline, either side. Default 5 min. */
  maxDeadlineMs?: number;
  /** Ping interval. Default 10 s; 0 disables keepalive. */
  keepaliveMs?: number;
  /** Close the connection when nothing arrived for this long. Default 3 × keepaliveMs. */
  keepaliveTimeoutMs?: number;
  /** Time allowed for the handshake. Default 5 s. */
  handshakeTimeoutMs?: number;
  /** After close() or GoAway, how long open streams may finish. Default 5 s. */
  closeGraceMs?: number;
  /** Time to wait for the remote to accept a tunnel. Default 15 s. */
  tunnelOpenTimeoutMs?: number;
  /** Time to establish the transport connection (Peer.connect). Default 5 s. */
  dialTimeoutMs?: number;
  /** Bytes queued towards a peer that does not read before it is disconnected. Default 32 MiB. */
  maxSocketBacklogBytes?: number;
}

/** Per-call options of a client method. */
export interface CallOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
}

/** Context handed to a handler: `signal` aborts on cancellation, deadline or connection loss. */
export interface HandlerContext {
  signal: AbortSignal;
}

/** A service implementation: method name (as in the .proto, e.g. `BlobGet`) → handler. */
// Method syntax (bivariant) so a handler typed for its own request fits; proto/runtime/typed-service.ts types them per service.
export type ServiceImpl = Record<string, { handle(req: unknown, ctx: HandlerContext): Promise<unknown> }['handle']>;

type Handler = { fn: (req: any, ctx: HandlerContext) => Promise<any>; req: protobuf.Type; res: protobuf.Type };

/**
 * One call this side made. A class rather than closures: a round trip creates one object, which
 * keeps the per-call cost (allocation, GC) small. Its deadline is watched by the Peer's single
 * deadline timer (Peer.watchDeadline), not a timer per call: arming and clearing a timer was a
 * measurable part of every round trip.
 */
class OutgoingCall {
  readonly promise: Promise<unknown>;
  /** Date.now() at which the call fails with ERR_DEADLINE_EXCEEDED. */
  readonly deadlineAt: number;
  private resolveFn!: (v: unknown) => void;
  private rejectFn!: (e: CosignerError) => void;
  private settled = false;

  constructor(
    private readonly peer: Peer,
    private readonly id: number,
    private readonly method: string,
    readonly res: protobuf.Type,
    private readonly deadlineMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.promise = new Promise<unknown>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.deadlineAt = Date.now() + deadlineMs;
    signal?.addEventListener('abort', this, { once: true });
  }

  /** The deadline passed (called by the Peer's deadline sweep). */
  expire(): void {
    this.fail(new CosignerError('ERR_DEADLINE_EXCEEDED', `${this.method}: no answer within ${this.deadlineMs} ms`), true);
  }

  /** AbortSignal listener (EventListenerObject). */
  handleEvent(): void {
    this.fail(new CosignerError('ERR_CANCELLED', `${this.method} cancelled`), true);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.signal?.removeEventListener('abort', this);
    return true;
  }

  resolve(v: unknown): void {
    if (this.finish()) this.resolveFn(v);
  }

  /** Settles with `e`; `giveUp` = this side abandons the call (tell the callee, free the id). */
  fail(e: CosignerError, giveUp: boolean): void {
    if (!this.finish()) return;
    this.peer.abandonCall(this.id, giveUp);
    this.rejectFn(e);
  }
}

interface PendingOpen {
  resolve: (d: Duplex) => void;
  reject: (e: CosignerError) => void;
  cleanup: () => void;
}

const DEFAULTS = {
  maxConcurrentStreams: 1024,
  initialWindow: 1024 * 1024,
  defaultDeadlineMs: 30_000,
  maxDeadlineMs: 300_000,
  keepaliveMs: 10_000,
  handshakeTimeoutMs: 5_000,
  closeGraceMs: 5_000,
  tunnelOpenTimeoutMs: 15_000,
};
/** Bytes queued in the socket above which streams wait for 'drain'. */
const SOCKET_HIGH_WATER = 1024 * 1024;
/** Bytes queued in the socket at which the peer is deemed not to read and is disconnected. */
const SOCKET_HARD_LIMIT = 32 * 1024 * 1024;
/**
 * Largest StreamData payload per frame. Fewer, larger frames: less per-frame work on both sides,
 * and on the relay one writev to the TCP target per 256 KiB (the parent's syscalls are most of its
 * cost per byte). A quarter of the default window, well inside the default 1 MiB frame limit.
 */
const MAX_DATA_CHUNK = 256 * 1024;
/** Frame buffers kept for reuse per connection (each MAX_DATA_CHUNK + header; ≤ 4 MiB in all). */
const FRAME_POOL_MAX = 16;
const MAX_BUILD_ID = 256;
const MAX_HOST = 253;
const MAX_METHOD = 256;
const MAX_STREAM_ID = 0x7fff_ffff;

function closedError(why = 'connection closed'): CosignerError {
  return new CosignerError('ERR_CONNECTION_CLOSED', why);
}

/**
 * One end of the parent↔enclave connection. Emits `'close'` (err?: CosignerError) once, when the
 * connection is gone; `err` is undefined after a graceful close.
 */
export class Peer extends EventEmitter {
  /** Resolves once both handshakes are exchanged and accepted. */
  readonly ready: Promise<void>;
  private readonly schema: Schema;
  private readonly opts: Required<Omit<PeerOptions, 'logger' | 'requireSameBuild' | 'keepaliveTimeoutMs' | 'dialTimeoutMs' | 'maxSocketBacklogBytes'>> & { keepaliveTimeoutMs: number; requireSameBuild: boolean };
  private readonly log: pino.Logger;
  private readonly decoder: FrameDecoder;
  private readonly handlers = new Map<string, Handler>();
  private tunnelHandler: ((host: string, port: number) => Promise<Duplex>) | null = null;
  private readonly calls = new Map<number, OutgoingCall>();
  private readonly serving = new Map<number, ServedCall>();
  private readonly streams = new Map<number, MuxStream>();
  private readonly opening = new Map<number, PendingOpen>();
  private readonly remoteOpened = new Set<number>();
  private nextId: number;
  private lastRemoteId = 0;
  private remote: { buildId: string; maxFrameBytes: number; maxConcurrentStreams: number; initialWindow: number } | null = null;
  private readyResolve!: () => void;
  private readyReject!: (e: CosignerError) => void;
  private localGoingAway = false;
  private remoteGoingAway = false;
  private closed = false;
  private closeError: CosignerError | undefined;
  private ending = false;
  private lastSeen = Date.now();
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineTimerAt = 0;
  private pingNonce = 0;
  private drainWait: Promise<void> | null = null;
  private readonly streamHost: StreamHost;
  private readonly maxBacklog: number;
  private readonly framePool: Buffer[] = [];

  /** Wraps an already connected socket. Most callers use Peer.connect / Peer.listen instead. */
  constructor(
    private readonly socket: net.Socket | Duplex,
    options: PeerOptions,
  ) {
    super();
    if (options.role !== 'parent' && options.role !== 'enclave') throw new CosignerError('ERR_CONFIG_INVALID', 'role must be parent or enclave');
    if (typeof options.buildId !== 'string' || options.buildId.length === 0 || options.buildId.length > MAX_BUILD_ID) {
      throw new CosignerError('ERR_CONFIG_INVALID', `buildId must be 1..${MAX_BUILD_ID} characters`);
    }
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1024 || maxFrameBytes > MAX_FRAME_BYTES_CEILING) {
      throw new CosignerError('ERR_CONFIG_INVALID', `maxFrameBytes must be an integer in 1024..${MAX_FRAME_BYTES_CEILING}`);
    }
    const keepaliveMs = options.keepaliveMs ?? DEFAULTS.keepaliveMs;
    this.opts = {
      role: options.role,
      buildId: options.buildId,
      maxFrameBytes,
      requireSameBuild: options.requireSameBuild ?? false,
      maxConcurrentStreams: options.maxConcurrentStreams ?? DEFAULTS.maxConcurrentStreams,
      initialWindow: Math.min(options.initialWindow ?? DEFAULTS.initialWindow, MAX_WINDOW),
      defaultDeadlineMs: options.defaultDeadlineMs ?? DEFAULTS.defaultDeadlineMs,
      maxDeadlineMs: options.maxDeadlineMs ?? DEFAULTS.maxDeadlineMs,
      keepaliveMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? keepaliveMs * 3,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      closeGraceMs: options.closeGraceMs ?? DEFAULTS.closeGraceMs,
      tunnelOpenTimeoutMs: options.tunnelOpenTimeoutMs ?? DEFAULTS.tunnelOpenTimeoutMs,
    };
    for (const [k, v, min] of [
      ['maxConcurrentStreams', this.opts.maxConcurrentStreams, 1],
      ['initialWindow', this.opts.initialWindow, 1024],
      ['defaultDeadlineMs', this.opts.defaultDeadlineMs, 1],
      ['maxDeadlineMs', this.opts.maxDeadlineMs, 1],
      ['keepaliveMs', this.opts.keepaliveMs, 0],
      ['keepaliveTimeoutMs', this.opts.keepaliveTimeoutMs, 0],
      ['handshakeTimeoutMs', this.opts.handshakeTimeoutMs, 1],
      ['closeGraceMs', this.opts.closeGraceMs, 0],
      ['tunnelOpenTimeoutMs', this.opts.tunnelOpenTimeoutMs, 1],
    ] as const) {
      if (!Number.isInteger(v) || v < min || v > 0x7fff_ffff) throw new CosignerError('ERR_CONFIG_INVALID', `${k} must be an integer ≥ ${min}`);
    }
    this.maxBacklog = Math.max(options.maxSocketBacklogBytes ?? SOCKET_HARD_LIMIT, SOCKET_HIGH_WATER);
    this.schema = loadSchema();
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'wire', side: options.role });
    this.decoder = new FrameDecoder(maxFrameBytes);
    // Parent-opened streams are odd, enclave-opened even: the two sides never pick the same id.
    this.nextId = options.role === 'parent' ? 1 : 2;
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
    const self = this;
    this.streamHost = {
      send: (frame) => this.send(frame),
      allocData: () => this.framePool.pop() ?? Buffer.allocUnsafeSlow(DATA_HEADER_MAX + MAX_DATA_CHUNK),
      sendDataBuffer: (id, buf, length) => this.sendDataBuffer(id, buf, length),
      congested: () => this.congested(),
      release: (id) => this.releaseStream(id),
      get maxDataChunk() {
        // Leave room for the envelope (stream id, tags, lengths) inside the remote's frame limit.
        return Math.min(MAX_DATA_CHUNK, (self.remote?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES) - 64);
      },
    };

    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => {
      try {
        this.decoder.end();
        this.teardown(this.localGoingAway || this.remoteGoingAway ? undefined : closedError('connection ended by peer'));
      } catch (err) {
        this.teardown(toCosignerError(err));
      }
    });
    socket.on('error', (err) => this.teardown(closedError(`connection error: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    socket.on('close', () => this.teardown(this.localGoingAway || this.remoteGoingAway ? undefined : closedError('connection closed by peer')));
    socket.on('drain', () => this.onDrain());

    this.handshakeTimer = setTimeout(() => this.fail(new CosignerError('ERR_TIMEOUT', 'handshake timed out')), this.opts.handshakeTimeoutMs);
    this.handshakeTimer.unref?.();
    this.send({
      streamId: 0,
      handshake: {
        protocolVersion: PROTOCOL_VERSION,
        buildId: this.opts.buildId,
        role: this.opts.role,
        maxFrameBytes: this.opts.maxFrameBytes,
        maxConcurrentStreams: this.opts.maxConcurrentStreams,
        initialWindow: this.opts.initialWindow,
      },
    });
  }

  /** Parent side: dial the enclave at `url` and complete the handshake. */
  static async connect(url: string, opts: PeerOptions): Promise<Peer> {
    const sock = await dialTransport(url, { timeoutMs: opts.dialTimeoutMs });
    const peer = new Peer(sock, opts);
    try {
      await peer.ready;
    } catch (err) {
      sock.destroy();
      throw err;
    }
    return peer;
  }

  /**
   * Enclave side: listen on `url`; every connection that completes the handshake is handed to
   * `onPeer`. Connections that fail it are logged and dropped.
   */
  static async listen(url: string, opts: PeerOptions, onPeer: (p: Peer) => void): Promise<{ close(): Promise<void>; address: string }> {
    const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'wire', side: opts.role });
    const peers = new Set<Peer>();
    const listener = await listenTransport(url, (sock) => {
      let peer: Peer;
      try {
        peer = new Peer(sock, opts);
      } catch (err) {
        log.error({ code: toCosignerError(err).code }, 'cannot create peer');
        sock.destroy();
        return;
      }
      peers.add(peer);
      peer.once('close', () => peers.delete(peer));
      peer.ready.then(
        () => onPeer(peer),
        (err: CosignerError) => log.warn({ code: err.code, msg: err.message }, 'handshake failed'),
      );
    });
    return {
      address: listener.address,
      close: async () => {
        await Promise.all([...peers].map((p) => p.close()));
        await listener.close();
      },
    };
  }

  /** Build id the remote stated in its handshake ('' before the handshake). */
  get remoteBuildId(): string {
    return this.remote?.buildId ?? '';
  }

  /** True once the connection is gone. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the connection closed (undefined while open or after a graceful close). */
  get closeReason(): CosignerError | undefined {
    return this.closeError;
  }

  /** Counts for tests and metrics. */
  stats(): { calls: number; serving: number; streams: number; socketBuffered: number; decoderBuffered: number } {
    return {
      calls: this.calls.size,
      serving: this.serving.size,
      streams: this.streams.size,
      socketBuffered: (this.socket as net.Socket).writableLength ?? 0,
      decoderBuffered: this.decoder.pendingBytes,
    };
  }

  /**
   * Serves `service` (full name, e.g. 'cosigner.v1.Control') with `impl`. Keys are method names as
   * in the .proto. Throws ERR_UNKNOWN_METHOD for an unknown service or method name.
   */
  register(service: string, impl: ServiceImpl): void {
    const svc = this.schema.service(service);
    for (const [name, fn] of Object.entries(impl)) {
      const m = svc.methods[name] ?? svc.methodsArray.find((x) => lowerFirst(x.name) === name);
      if (!m || typeof fn !== 'function') throw new CosignerError('ERR_UNKNOWN_METHOD', `${service} has no method ${name}`);
      if (m.requestStream || m.responseStream) throw new CosignerError('ERR_NOT_IMPLEMENTED', `${service}/${m.name}: only unary methods are supported`);
      this.handlers.set(`${service}/${m.name}`, { fn, req: m.resolvedRequestType!, res: m.resolvedResponseType! });
    }
  }

  /**
   * A client for `service`: one function per method (both `BlobGet` and `blobGet`), each
   * `(request, { deadlineMs?, signal? }) => Promise<response>`. Failures are CosignerErrors
   * carrying the remote's code.
   */
  client<T = any>(service: string): T {
    const svc = this.schema.service(service);
    const out: Record<string, (req?: unknown, o?: CallOptions) => Promise<unknown>> = {};
    for (const m of svc.methodsArray) {
      const full = `${service}/${m.name}`;
      const req = m.resolvedRequestType!;
      const res = m.resolvedResponseType!;
      const fn = (r: unknown = {}, o: CallOptions = {}): Promise<unknown> => this.call(full, req, res, r, o);
      out[m.name] = fn;
      out[lowerFirst(m.name)] = fn;
    }
    return out as T;
  }

  /** Registers the parent's answer to tunnel opens (the egress relay plugs in here). */
  onTunnel(handler: (host: string, port: number) => Promise<Duplex>): void {
    this.tunnelHandler = handler;
  }

  /**
   * Enclave side: opens a byte stream to host:port through the parent. Resolves once the parent
   * has connected; fails with the parent's code (ERR_EGRESS_DENIED, ERR_EGRESS_FAILED, ...).
   */
  openTunnel(host: string, port: number, opts: { signal?: AbortSignal } = {}): Promise<Duplex> {
    if (typeof host !== 'string' || host.length === 0 || host.length > MAX_HOST || !Number.isInteger(port) || port < 1 || port > 65535) {
      return Promise.reject(new CosignerError('ERR_INVALID_ARGUMENT', 'tunnel target must be a host name and a port in 1..65535'));
    }
    let id: number;
    try {
      id = this.allocateId();
    } catch (err) {
      return Promise.reject(err);
    }
    const stream = new MuxStream(this.streamHost, id, { sendWindow: this.remote!.initialWindow, recvWindow: this.opts.initialWindow });
    this.streams.set(id, stream);
    return new Promise<Duplex>((resolve, reject) => {
      const onAbort = (): void => fail(new CosignerError('ERR_CANCELLED', `tunnel to ${host}:${port} cancelled`));
      const timer = setTimeout(() => fail(new CosignerError('ERR_DEADLINE_EXCEEDED', `tunnel to ${host}:${port} not accepted in time`)), this.opts.tunnelOpenTimeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.opening.delete(id);
      };
      const fail = (e: CosignerError): void => {
        cleanup();
        stream.destroy(e);
        reject(e);
      };
      this.opening.set(id, {
        resolve: (d) => {
          cleanup();
          resolve(d);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
        cleanup,
      });
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      stream.once('error', () => undefined);
      if (!this.send({ streamId: id, open: { kind: 'tunnel', host, port } })) fail(closedError());
    });
  }

  /**
   * Graceful close: sends GoAway, lets open calls and streams finish (up to closeGraceMs), then
   * ends the connection. Pending work still open after the grace fails with ERR_CONNECTION_CLOSED.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (!this.localGoingAway) {
      this.localGoingAway = true;
      this.send({ streamId: 0, goaway: {} });
      this.graceTimer = setTimeout(() => this.teardown(undefined), this.opts.closeGraceMs);
      this.graceTimer.unref?.();
    }
    this.maybeFinishClose();
    await done;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  private send(frame: Record<string, unknown>): boolean {
    if (this.closed || (this.socket as net.Socket).destroyed) return false;
    const limit = this.remote?.maxFrameBytes ?? this.opts.maxFrameBytes;
    const buf = encodeFrame(frame, limit);
    this.socket.write(buf);
    this.checkBacklog();
    return true;
  }

  /**
   * Stream data waits for 'drain', but replies (pongs, responses, window updates) do not: a peer
   * that keeps asking and never reads would grow our socket buffer without end. Past a hard cap
   * the connection is dropped.
   */
  private checkBacklog(): void {
    const backlog = (this.socket as net.Socket).writableLength ?? 0;
    if (backlog > this.maxBacklog && !this.closed) {
      queueMicrotask(() => this.fail(new CosignerError('ERR_FLOW_CONTROL', `peer is not reading (${backlog} bytes queued)`)));
    }
  }

  private sendDataBuffer(id: number, buf: Buffer, length: number): boolean {
    const s = this.socket as net.Socket;
    if (this.closed || s.destroyed) return false;
    // The header goes right in front of the payload the stream copied in: one buffer, one write.
    const hl = dataFrameHeaderLength(id, length);
    const start = DATA_HEADER_MAX - hl;
    writeDataFrameHeader(buf.subarray(start), id, length, this.remote?.maxFrameBytes ?? this.opts.maxFrameBytes);
    // Recycled once the socket has written it (fewer large allocations, less GC).
    s.write(buf.subarray(start, DATA_HEADER_MAX + length), () => this.recycle(buf));
    this.checkBacklog();
    return true;
  }

  private recycle(buf: Buffer): void {
    if (this.framePool.length < FRAME_POOL_MAX) this.framePool.push(buf);
  }

  private congested(): Promise<void> | null {
    const s = this.socket as net.Socket;
    if ((s.writableLength ?? 0) < SOCKET_HIGH_WATER || this.closed) return null;
    this.drainWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        s.removeListener('drain', done);
        this.removeListener('close', done);
        this.drainWait = null;
        resolve();
      };
      s.on('drain', done);
      this.once('close', done);
    });
    return this.drainWait;
  }

  private onDrain(): void {
    /* congested() waiters are resolved by their own 'drain' listener */
  }

  private allocateId(): number {
    if (this.closed) throw closedError();
    if (!this.remote) throw new CosignerError('ERR_STATE', 'handshake not finished');
    if (this.localGoingAway || this.remoteGoingAway) throw new CosignerError('ERR_CONNECTION_CLOSED', 'connection is closing (goaway)');
    const open = this.localOpenCount();
    if (open >= this.remote.maxConcurrentStreams) {
      throw new CosignerError('ERR_BUSY', `too many concurrent streams (${open}, peer allows ${this.remote.maxConcurrentStreams})`);
    }
    if (this.nextId > MAX_STREAM_ID) throw new CosignerError('ERR_LIMIT_EXCEEDED', 'stream ids exhausted; reconnect');
    const id = this.nextId;
    this.nextId += 2;
    return id;
  }

  private localOpenCount(): number {
    let n = this.calls.size;
    for (const id of this.streams.keys()) if (this.isLocalId(id)) n++;
    return n;
  }

  private isLocalId(id: number): boolean {
    return (id % 2 === 1) === (this.opts.role === 'parent');
  }

  private call(method: string, reqType: protobuf.Type, resType: protobuf.Type, request: unknown, o: CallOptions): Promise<unknown> {
    if (o.signal?.aborted) return Promise.reject(new CosignerError('ERR_CANCELLED', `${method} cancelled`));
    let payload: Uint8Array;
    try {
      if (request === null || typeof request !== 'object') throw new TypeError('request must be an object');
      payload = reqType.encode(reqType.fromObject(request as Record<string, unknown>)).finish();
    } catch (err) {
      return Promise.reject(new CosignerError('ERR_INVALID_ARGUMENT', `${method}: request does not fit ${reqType.fullName}: ${(err as Error).message}`));
    }
    const deadlineMs = Math.max(1, Math.min(o.deadlineMs ?? this.opts.defaultDeadlineMs, this.opts.maxDeadlineMs));
    let id: number;
    try {
      id = this.allocateId();
    } catch (err) {
      return Promise.reject(err);
    }
    const call = new OutgoingCall(this, id, method, resType, deadlineMs, o.signal);
    this.calls.set(id, call);
    this.watchDeadline(call.deadlineAt);
    let sent: boolean;
    try {
      sent = this.send({ streamId: id, request: { method, payload, deadlineMs } });
    } catch (err) {
      call.fail(toCosignerError(err), false);
      return call.promise;
    }
    if (!sent) call.fail(closedError(), false);
    return call.promise;
  }

  /**
   * Makes sure the deadline timer fires no later than `at`. One timer serves every outgoing call:
   * it is re-armed only when a call has an earlier deadline than the one it waits for (calls made
   * with the same deadline option arrive in deadline order, so usually it is not touched at all).
   * It is unref'd: the open socket is what keeps the process alive, and teardown fails every call.
   */
  private watchDeadline(at: number): void {
    if (this.deadlineTimer && at >= this.deadlineTimerAt) return;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = at;
    this.deadlineTimer = setTimeout(Peer.sweepDeadlines, Math.max(1, at - Date.now()), this);
    this.deadlineTimer.unref?.();
  }

  /** Fails the calls whose deadline has passed and re-arms for the earliest one left. */
  private static sweepDeadlines(peer: Peer): void {
    peer.deadlineTimer = null;
    const now = Date.now();
    let next = Infinity;
    for (const c of [...peer.calls.values()]) {
      if (c.deadlineAt <= now) c.expire();
      else if (c.deadlineAt < next) next = c.deadlineAt;
    }
    if (next !== Infinity && !peer.closed) peer.watchDeadline(next);
  }

  /** @internal An outgoing call gave up (cancel or deadline): forget it and tell the callee. */
  abandonCall(id: number, notifyRemote: boolean): void {
    this.calls.delete(id);
    if (notifyRemote) this.send({ streamId: id, cancel: {} });
    this.maybeFinishClose();
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    let frames: DecodedFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(toCosignerError(err, 'ERR_FRAME_MALFORMED'));
      return;
    }
    this.lastSeen = Date.now();
    this.dispatchAll(frames, 0);
  }

  private dispatchAll(frames: DecodedFrame[], from: number): void {
    for (let i = from; i < frames.length; i++) {
      if (this.closed) return;
      const wasReady = this.remote !== null;
      try {
        this.dispatch(frames[i]!);
      } catch (err) {
        this.fail(toCosignerError(err, 'ERR_FRAME_MALFORMED'));
        return;
      }
      if (!wasReady && this.remote !== null && i + 1 < frames.length) {
        // Frames that came in the same read as the handshake wait one turn of the event loop, so
        // the code awaiting `ready` (Peer.connect, the onPeer callback) can register its handlers
        // before the first request is dispatched.
        const s = this.socket as net.Socket;
        s.pause();
        setImmediate(() => {
          this.dispatchAll(frames, i + 1);
          if (!this.closed) s.resume();
        });
        return;
      }
    }
  }

  private dispatch(f: DecodedFrame): void {
    const id = f.streamId >>> 0;
    const kind = f.kind!;
    if (!this.remote) {
      if (kind === 'handshake') return this.onHandshake(f.handshake);
      if (kind === 'goaway') return this.onGoAway(f.goaway);
      throw new CosignerError('ERR_FRAME_MALFORMED', `${kind} frame before handshake`);
    }
    if (id === 0) {
      switch (kind) {
        case 'ping':
          this.send({ streamId: 0, pong: { nonce: f.ping.nonce } });
          return;
        case 'pong':
          return;
        case 'goaway':
          return this.onGoAway(f.goaway);
        default:
          throw new CosignerError('ERR_FRAME_MALFORMED', `${kind} frame on stream 0`);
      }
    }
    switch (kind) {
      case 'request':
        return this.onRequest(id, f.request);
      case 'response':
        return this.onResponse(id, f.response);
      case 'cancel':
        this.serving.get(id)?.abort(new CosignerError('ERR_CANCELLED', 'call cancelled by caller'));
        return;
      case 'open':
        return this.onOpen(id, f.open);
      case 'accept': {
        const p = this.opening.get(id);
        const s = this.streams.get(id);
        if (p && s) p.resolve(s);
        return;
      }
      case 'data': {
        const st = this.streams.get(id);
        if (!st) return;
        if (f.parts) st.onData(f.parts, f.length as number);
        else st.onData(f.data.data as Buffer);
        return;
      }
      case 'windowUpdate':
        this.streams.get(id)?.onWindowUpdate(f.windowUpdate.increment >>> 0);
        return;
      case 'halfClose':
        this.streams.get(id)?.onHalfClose();
        return;
      case 'close':
        return this.onStreamClose(id, f.close);
      default:
        throw new CosignerError('ERR_FRAME_MALFORMED', `${kind} frame on stream ${id}`);
    }
  }

  private onHandshake(h: { protocolVersion: number; buildId: string; role: string; maxFrameBytes: number; maxConcurrentStreams: number; initialWindow: number }): void {
    if (h.protocolVersion !== PROTOCOL_VERSION) {
      return this.fail(new CosignerError('ERR_PROTOCOL_VERSION', `peer speaks protocol ${h.protocolVersion}, this side ${PROTOCOL_VERSION}`));
    }
    const expectedRole = this.opts.role === 'parent' ? 'enclave' : 'parent';
    if (h.role !== expectedRole) return this.fail(new CosignerError('ERR_FRAME_MALFORMED', `peer says it is ${JSON.stringify(String(h.role).slice(0, 16))}, expected ${expectedRole}`));
    if (typeof h.buildId !== 'string' || h.buildId.length === 0 || h.buildId.length > MAX_BUILD_ID) {
      return this.fail(new CosignerError('ERR_FRAME_MALFORMED', 'peer build id missing or too long'));
    }
    if (this.opts.requireSameBuild && h.buildId !== this.opts.buildId) {
      return this.fail(new CosignerError('ERR_BUILD_MISMATCH', `peer build ${h.buildId} differs from ${this.opts.buildId}`));
    }
    if (h.maxFrameBytes < 1024 || h.maxConcurrentStreams < 1 || h.initialWindow < 1024 || h.initialWindow > MAX_WINDOW) {
      return this.fail(new CosignerError('ERR_FRAME_MALFORMED', 'peer handshake limits out of range'));
    }
    this.remote = {
      buildId: h.buildId,
      maxFrameBytes: Math.min(h.maxFrameBytes, MAX_FRAME_BYTES_CEILING),
      maxConcurrentStreams: h.maxConcurrentStreams,
      initialWindow: h.initialWindow,
    };
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.startKeepalive();
    this.log.debug({ remoteBuild: h.buildId }, 'handshake complete');
    this.readyResolve();
  }

  private onGoAway(g: { error?: unknown } | null): void {
    if (g?.error) {
      const err = fromWireError(g.error as Record<string, unknown>, 'ERR_CONNECTION_CLOSED');
      this.log.warn({ code: err.code }, 'peer sent goaway with error');
      this.teardown(err);
      return;
    }
    this.remoteGoingAway = true;
    this.maybeFinishClose();
  }

  /** Validates a remote-opened stream id; returns why the stream is refused, or null to serve it. */
  private acceptRemoteId(id: number): CosignerError | null {
    // Remote-opened ids have the remote's parity and strictly increase: no reuse, no hijacking.
    if (this.isLocalId(id) || id <= this.lastRemoteId) throw new CosignerError('ERR_FRAME_MALFORMED', `stream id ${id} not valid for a new remote stream`);
    this.lastRemoteId = id;
    if (this.localGoingAway) return new CosignerError('ERR_CONNECTION_CLOSED', 'connection is closing (goaway)');
    if (this.serving.size + this.remoteOpened.size >= this.opts.maxConcurrentStreams) {
      return new CosignerError('ERR_BUSY', `too many concurrent streams (limit ${this.opts.maxConcurrentStreams})`);
    }
    return null;
  }

  private onRequest(id: number, r: { method: string; payload: Uint8Array; deadlineMs: number }): void {
    const refused = this.acceptRemoteId(id);
    if (refused) {
      this.send({ streamId: id, response: { error: toWireError(refused) } });
      return;
    }
    const method = typeof r.method === 'string' ? r.method : '';
    const h = method.length <= MAX_METHOD ? this.handlers.get(method) : undefined;
    if (!h) {
      this.send({ streamId: id, response: { error: toWireError(new CosignerError('ERR_UNKNOWN_METHOD', `no handler for ${method.slice(0, MAX_METHOD)}`)) } });
      return;
    }
    let req: unknown;
    try {
      req = h.req.toObject(h.req.decode(r.payload), TO_OBJECT);
    } catch {
      this.send({ streamId: id, response: { error: toWireError(new CosignerError('ERR_INVALID_ARGUMENT', `${method}: request is not a valid ${h.req.fullName}`)) } });
      return;
    }
    const deadline = Math.min(r.deadlineMs > 0 ? r.deadlineMs : this.opts.defaultDeadlineMs, this.opts.maxDeadlineMs);
    const sc = new ServedCall(method, deadline);
    this.serving.set(id, sc);
    void (async () => {
      let frame: Record<string, unknown>;
      try {
        const res = await h.fn(req, sc);
        if (sc.aborted) throw sc.reason;
        const payload = h.res.encode(h.res.fromObject((res ?? {}) as Record<string, unknown>)).finish();
        frame = { streamId: id, response: { payload } };
      } catch (err) {
        if (!(err instanceof CosignerError)) this.log.error({ method, err: err instanceof Error ? err.name : typeof err }, 'handler failed with a non-CosignerError');
        frame = { streamId: id, response: { error: toWireError(err) } };
      } finally {
        sc.done();
        this.serving.delete(id);
      }
      if (sc.cancelled) {
        this.maybeFinishClose();
        return; // the caller is gone
      }
      try {
        this.send(frame);
      } catch (err) {
        this.send({ streamId: id, response: { error: toWireError(toCosignerError(err)) } });
      }
      this.maybeFinishClose();
    })();
  }

  private onResponse(id: number, r: { payload: Uint8Array; error?: unknown }): void {
    const c = this.calls.get(id);
    if (!c) return; // cancelled or timed out already
    this.calls.delete(id);
    if (r.error) c.fail(fromWireError(r.error as Record<string, unknown>), false);
    else {
      try {
        c.resolve(c.res.toObject(c.res.decode(r.payload), TO_OBJECT));
      } catch {
        c.fail(new CosignerError('ERR_FRAME_MALFORMED', `response is not a valid ${c.res.fullName}`), false);
      }
    }
    this.maybeFinishClose();
  }

  private onOpen(id: number, o: { kind: string; host: string; port: number }): void {
    const refuse = (e: CosignerError): void => {
      this.send({ streamId: id, close: { error: toWireError(e) } });
    };
    const refused = this.acceptRemoteId(id);
    if (refused) return refuse(refused);
    if (o.kind !== 'tunnel') return refuse(new CosignerError('ERR_NOT_IMPLEMENTED', `stream kind ${String(o.kind).slice(0, 32)} not supported`));
    if (!this.tunnelHandler) return refuse(new CosignerError('ERR_EGRESS_DENIED', 'this side relays no tunnels'));
    const host = o.host;
    const port = o.port;
    if (typeof host !== 'string' || host.length === 0 || host.length > MAX_HOST || !Number.isInteger(port) || port < 1 || port > 65535) {
      return refuse(new CosignerError('ERR_INVALID_ARGUMENT', 'tunnel target must be a host name and a port in 1..65535'));
    }
    const stream = new MuxStream(this.streamHost, id, { sendWindow: this.remote!.initialWindow, recvWindow: this.opts.initialWindow });
    this.streams.set(id, stream);
    this.remoteOpened.add(id);
    stream.once('error', () => undefined);
    const handler = this.tunnelHandler;
    void (async () => {
      let target: Duplex;
      try {
        target = await handler(host, port);
      } catch (err) {
        stream.destroy(toCosignerError(err, 'ERR_EGRESS_FAILED'));
        return;
      }
      if (stream.destroyed || this.closed) {
        target.destroy();
        return;
      }
      this.send({ streamId: id, accept: {} });
      splice(stream, target);
    })();
  }

  private onStreamClose(id: number, c: { error?: unknown } | null): void {
    const err = c?.error ? fromWireError(c.error as Record<string, unknown>, 'ERR_STREAM_RESET') : null;
    const p = this.opening.get(id);
    if (p) p.reject(err ?? new CosignerError('ERR_STREAM_RESET', 'tunnel refused'));
    const s = this.streams.get(id);
    if (s) s.onClose(err);
    const call = this.calls.get(id);
    if (call) call.fail(err ?? new CosignerError('ERR_STREAM_RESET', 'call reset by peer'), false);
  }

  private releaseStream(id: number): void {
    this.streams.delete(id);
    this.remoteOpened.delete(id);
    this.maybeFinishClose();
  }

  // ---------------------------------------------------------------------------------------------
  // Liveness and shutdown

  private startKeepalive(): void {
    if (this.opts.keepaliveMs <= 0) return;
    this.keepaliveTimer = setInterval(() => {
      if (Date.now() - this.lastSeen > this.opts.keepaliveTimeoutMs) {
        this.fail(closedError(`no traffic from peer for ${this.opts.keepaliveTimeoutMs} ms (keepalive)`));
        return;
      }
      this.send({ streamId: 0, ping: { nonce: ++this.pingNonce } });
    }, this.opts.keepaliveMs);
    this.keepaliveTimer.unref?.();
  }

  private maybeFinishClose(): void {
    if (this.closed || !(this.localGoingAway || this.remoteGoingAway)) return;
    if (!this.ending && this.calls.size === 0 && this.serving.size === 0 && this.streams.size === 0) {
      this.ending = true;
      (this.socket as net.Socket).end();
      // The remote ends its side too; if it does not within the grace, destroy.
      const t = setTimeout(() => this.teardown(undefined), Math.min(this.opts.closeGraceMs, 1000));
      t.unref?.();
    }
  }

  /** Fatal error: tell the remote why (best effort) and drop the connection. */
  private fail(err: CosignerError): void {
    if (this.closed) return;
    this.log.warn({ code: err.code, msg: err.message }, 'closing connection on error');
    try {
      this.send({ streamId: 0, goaway: { error: toWireError(err) } });
    } catch {
      /* the connection is going away regardless */
    }
    (this.socket as net.Socket).end();
    this.teardown(err);
  }

  private teardown(err: CosignerError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    for (const t of [this.keepaliveTimer, this.handshakeTimer, this.graceTimer, this.deadlineTimer]) if (t) clearTimeout(t);
    const pendingErr = closedError(err ? `connection closed: ${err.code}` : 'connection closed');
    this.readyReject(err ?? pendingErr);
    for (const c of [...this.calls.values()]) c.fail(pendingErr, false);
    this.calls.clear();
    for (const p of [...this.opening.values()]) p.reject(pendingErr);
    for (const s of [...this.streams.values()]) s.onClose(pendingErr);
    for (const sc of this.serving.values()) sc.abort(pendingErr);
    this.serving.clear();
    const sock = this.socket as net.Socket;
    // Give the GoAway a moment to leave, then make sure the fd is released.
    if (!sock.destroyed) setImmediate(() => sock.destroy());
    this.emit('close', err);
  }
}

/** Pipes a tunnel stream and its target socket both ways with backpressure; an error ends both. */
function splice(stream: MuxStream, target: Duplex): void {
  target.on('error', (e: NodeJS.ErrnoException) => {
    stream.destroy(new CosignerError('ERR_EGRESS_FAILED', `relay target error: ${e.code ?? 'io'}`));
  });
  stream.on('error', () => target.destroy());
  stream.on('close', () => {
    if (!target.destroyed && !target.writableEnded) target.destroy();
  });
  target.on('close', () => {
    if (!stream.destroyed && !stream.writableEnded) stream.destroy(new CosignerError('ERR_EGRESS_FAILED', 'relay target closed'));
  });
  target.pipe(stream);
  // Received data goes straight to the target, credit returning as its writes complete.
  stream.pipeInto(target);
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
