// Both sides. The connection under a Peer: socket, handshake, sending with backpressure, the receive
// loop, keepalive and shutdown. The state every layer needs (open calls, served calls, streams) lives
// here so that teardown can fail all of it; RPC (rpc.ts) and tunnels (peer.ts) build on this class.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import { CosignerError, toCosignerError } from '../errors.ts';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, DATA_HEADER_MAX, HANDSHAKE_MAX_FRAME_BYTES, dataFrameHeaderLength, encodeFrame, writeDataFrameHeader, type DecodedFrame } from './framing.ts';
import { FRAME_POOL_MAX, MAX_DATA_CHUNK, SOCKET_HARD_LIMIT, SOCKET_HIGH_WATER, closedError, resolveOptions, type PeerOptions, type ResolvedOptions } from './options.ts';
import type { OutgoingCall } from './outgoing-call.ts';
import { checkHandshake, handshakeFrame, type HandshakeMessage, type RemoteLimits } from './handshake.ts';
import { loadSchema, type Schema } from './schema.ts';
import type { ServedCall } from './served-call.ts';
import type { MuxStream, StreamHost } from './stream.ts';
import { fromWireError, toWireError } from './wire-error.ts';

/** A tunnel this side asked the remote to open, waiting for accept or close. */
export interface PendingOpen {
  resolve: (d: Duplex) => void;
  reject: (e: CosignerError) => void;
  cleanup: () => void;
}

/**
 * One end of the parent↔enclave connection. Emits `'close'` (err?: CosignerError) once, when the
 * connection is gone; `err` is undefined after a graceful close.
 */
export abstract class PeerConnection extends EventEmitter {
  /** Resolves once both handshakes are exchanged and accepted. */
  readonly ready: Promise<void>;
  protected readonly schema: Schema;
  protected readonly opts: ResolvedOptions;
  protected readonly log: pino.Logger;
  private readonly decoder: FrameDecoder;
  protected readonly calls = new Map<number, OutgoingCall>();
  protected readonly serving = new Map<number, ServedCall>();
  protected readonly streams = new Map<number, MuxStream>();
  protected readonly opening = new Map<number, PendingOpen>();
  protected readonly remoteOpened = new Set<number>();
  protected remote: RemoteLimits | null = null;
  private readyResolve!: () => void;
  private readyReject!: (e: CosignerError) => void;
  protected localGoingAway = false;
  protected remoteGoingAway = false;
  protected closed = false;
  private closeError: CosignerError | undefined;
  private ending = false;
  private lastSeen = Date.now();
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  protected deadlineTimer: NodeJS.Timeout | null = null;
  private pingNonce = 0;
  private drainWait: Promise<void> | null = null;
  protected readonly streamHost: StreamHost;
  private readonly maxBacklog: number;
  private readonly framePool: Buffer[] = [];

  /** Wraps an already connected socket. Most callers use Peer.connect / Peer.listen instead. */
  constructor(
    protected readonly socket: net.Socket | Duplex,
    options: PeerOptions,
  ) {
    super();
    this.opts = resolveOptions(options);
    this.maxBacklog = Math.max(options.maxSocketBacklogBytes ?? SOCKET_HARD_LIMIT, SOCKET_HIGH_WATER);
    this.schema = loadSchema();
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'wire', side: options.role });
    this.decoder = new FrameDecoder(this.opts.maxFrameBytes, HANDSHAKE_MAX_FRAME_BYTES);
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
    this.streamHost = this.makeStreamHost();
    this.wireSocket(socket);
    this.handshakeTimer = setTimeout(() => this.fail(new CosignerError('ERR_TIMEOUT', 'handshake timed out')), this.opts.handshakeTimeoutMs);
    this.handshakeTimer.unref?.();
    this.send(handshakeFrame(this.opts));
  }

  private makeStreamHost(): StreamHost {
    const self = this;
    return {
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
  }

  private wireSocket(socket: net.Socket | Duplex): void {
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

  protected send(frame: Record<string, unknown>): boolean {
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

  protected isLocalId(id: number): boolean {
    return (id % 2 === 1) === (this.opts.role === 'parent');
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
    this.onStreamFrame(id, kind, f);
  }

  /** A frame on stream `id` ≠ 0 after the handshake (requests, responses, tunnel frames). */
  protected abstract onStreamFrame(id: number, kind: string, f: DecodedFrame): void;

  private onHandshake(h: HandshakeMessage): void {
    const checked = checkHandshake(h, this.opts);
    if (checked instanceof CosignerError) return this.fail(checked);
    this.remote = checked;
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

  protected releaseStream(id: number): void {
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

  protected maybeFinishClose(): void {
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
  protected fail(err: CosignerError): void {
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

  protected teardown(err: CosignerError | undefined): void {
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
