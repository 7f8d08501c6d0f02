// Both sides. One multiplexed byte stream as a Node Duplex, with credit-based flow control: the
// sender spends credit on each StreamData byte and waits at zero; the receiver grants credit back
// only once the application has taken bytes out of the stream. A slow reader therefore holds at
// most one window of queued bytes, and other streams on the connection keep flowing.
import { Duplex, type Writable } from 'node:stream';
import { CosignerError } from '../errors.ts';
import { DATA_HEADER_MAX } from './framing.ts';
import { toWireError } from './wire-error.ts';

/** What a stream needs from its connection. */
export interface StreamHost {
  /** Sends one frame for this stream; returns false once the connection is gone. */
  send(frame: Record<string, unknown>): boolean;
  /** A buffer for one StreamData frame: DATA_HEADER_MAX bytes of room, then maxDataChunk of payload. */
  allocData(): Buffer;
  /**
   * Sends the StreamData frame whose payload is `buf[DATA_HEADER_MAX, DATA_HEADER_MAX + length)`;
   * the host writes the header in front and takes the buffer over. False once the connection is gone.
   */
  sendDataBuffer(id: number, buf: Buffer, length: number): boolean;
  /** Resolves when the connection's socket buffer has room again (connection-level backpressure). */
  congested(): Promise<void> | null;
  /** The stream is finished in both directions: forget it. */
  release(id: number): void;
  /** Largest StreamData payload to put in one frame. */
  readonly maxDataChunk: number;
}

/** Largest credit a peer may hold on one stream (a larger grant is a protocol violation). */
export const MAX_WINDOW = 0x7fff_ffff;

/** A multiplexed stream. Tunnels are these; `tls.connect({ socket })` accepts one. */
export class MuxStream extends Duplex {
  readonly id: number;
  private sendCredit: number;
  private recvCredit: number;
  private readonly recvWindow: number;
  private readonly grantThreshold: number;
  private queue: Buffer[] = [];
  private queued = 0;
  private pendingGrant = 0;
  private wantRead = false;
  private remoteEnded = false;
  private localEnded = false;
  private finished = false;
  private pendingWrite: { chunk: Buffer; cb: (err?: Error | null) => void } | null = null;
  /** Outgoing frame being filled: writes in the same tick travel together (TLS records are 16 KiB). */
  private out: Buffer | null = null;
  private outLen = 0;
  private flushQueued = false;
  /** Relay mode (pipeInto): where incoming data goes, bypassing the Readable side. */
  private sink: Writable | null = null;
  /** Bytes handed to the sink whose write has not completed yet (bounded by the receive window). */
  private sinkPending = 0;

  constructor(
    private readonly host: StreamHost,
    id: number,
    opts: { sendWindow: number; recvWindow: number },
  ) {
    super({ allowHalfOpen: true, writableHighWaterMark: 256 * 1024, readableHighWaterMark: 256 * 1024 });
    this.id = id;
    this.sendCredit = opts.sendWindow;
    this.recvWindow = opts.recvWindow;
    this.recvCredit = opts.recvWindow;
    // Half a window per grant: one WindowUpdate (a write here, a wakeup there) per 512 KiB at the
    // default window, while the sender still holds half a window to keep the pipe full meanwhile.
    this.grantThreshold = Math.max(1, Math.floor(opts.recvWindow / 2));
  }

  /** Bytes received but not yet consumed: queued for the reader or being written to the sink (≤ the receive window). */
  get queuedBytes(): number {
    return this.queued + this.sinkPending;
  }

  /** Credit the remote side still holds for sending to us. */
  get remoteCredit(): number {
    return this.recvCredit;
  }

  /** Credit we hold for sending. */
  get localCredit(): number {
    return this.sendCredit;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.finished) return cb(new CosignerError('ERR_STREAM_RESET', 'stream closed'));
      const max = this.host.maxDataChunk;
      const room = Math.min(this.sendCredit - this.outLen, max - this.outLen);
      if (room <= 0) {
        if (this.outLen > 0 && this.flush()) continue;
        // Out of credit (or the connection is backed up): park the rest until a window update or
        // 'drain'. Not calling cb is what applies backpressure to the writer.
        this.pendingWrite = { chunk: off === 0 ? chunk : chunk.subarray(off), cb };
        return;
      }
      const wait = this.host.congested();
      if (wait) {
        this.pendingWrite = { chunk: off === 0 ? chunk : chunk.subarray(off), cb };
        void wait.then(() => this.continueWrite());
        return;
      }
      this.out ??= this.host.allocData();
      const n = Math.min(room, chunk.length - off);
      // The copy is what lets us call cb at once: the caller may reuse its buffer afterwards.
      chunk.copy(this.out, DATA_HEADER_MAX + this.outLen, off, off + n);
      this.outLen += n;
      off += n;
      if (this.outLen >= max) this.flush();
    }
    if (this.outLen > 0 && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
    cb();
  }

  /** Sends the frame being filled. Returns false if nothing could be sent. */
  private flush(): boolean {
    if (this.outLen === 0 || !this.out || this.finished) return false;
    const buf = this.out;
    const len = this.outLen;
    this.out = null;
    this.outLen = 0;
    this.sendCredit -= len;
    if (!this.host.sendDataBuffer(this.id, buf, len)) {
      this.destroy(new CosignerError('ERR_CONNECTION_CLOSED', 'connection closed'));
      return false;
    }
    return true;
  }

  /** Credit or socket room came back: continue a parked write. */
  private continueWrite(): void {
    const pw = this.pendingWrite;
    if (!pw || this.finished) return;
    this.pendingWrite = null;
    this._write(pw.chunk, 'binary', pw.cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.finished) return cb();
    this.flush();
    this.localEnded = true;
    this.host.send({ streamId: this.id, halfClose: {} });
    cb();
    this.maybeRelease();
  }

  override _read(): void {
    this.wantRead = true;
    this.drain();
  }

  private drain(): void {
    while (this.wantRead && this.queue.length > 0) {
      const b = this.queue.shift()!;
      this.queued -= b.length;
      this.pendingGrant += b.length;
      if (!this.push(b)) this.wantRead = false;
    }
    if (this.queue.length === 0 && this.remoteEnded && !this.readableEnded) this.push(null);
    this.maybeGrant();
    this.maybeRelease();
  }

  /** Returns consumed bytes to the sender as credit, in batches of half a window. */
  private maybeGrant(): void {
    if (this.pendingGrant >= this.grantThreshold && !this.remoteEnded && !this.finished) {
      this.recvCredit += this.pendingGrant;
      this.host.send({ streamId: this.id, windowUpdate: { increment: this.pendingGrant } });
      this.pendingGrant = 0;
    }
  }

  /**
   * @internal Relay mode: everything received from now on is written straight to `target` (the
   * relay's TCP socket) instead of going through the Readable side, and credit goes back to the
   * sender only once those writes complete, so the bytes held for a slow target stay within one
   * window. Ends `target` when the remote half-closes, as pipe() would.
   */
  pipeInto(target: Writable): void {
    this.sink = target;
    const held = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const b of held) this.writeSink(b, null, b.length);
    this.resume(); // the Readable side carries no data now; flowing lets it end normally
    if (this.remoteEnded) target.end();
  }

  private writeSink(one: Buffer | null, parts: Buffer[] | null, n: number): void {
    const t = this.sink!;
    this.sinkPending += n;
    const done = (err?: Error | null): void => this.onSinkWritten(n, err);
    if (one) {
      t.write(one, done);
      return;
    }
    // Several slices of one frame: corked, they leave in one writev rather than one write each.
    t.cork();
    const last = parts!.length - 1;
    for (let i = 0; i < last; i++) t.write(parts![i]!);
    t.write(parts![last]!, done);
    t.uncork();
  }

  private onSinkWritten(n: number, err: Error | null | undefined): void {
    this.sinkPending -= n;
    if (err || this.finished) return;
    this.pendingGrant += n;
    this.maybeGrant();
  }

  /**
   * @internal StreamData from the remote: one buffer, or the payload as slices of the received
   * chunks (`parts`, in order, `length` bytes in all).
   */
  onData(data: Buffer | Buffer[], length = (data as Buffer).length): void {
    if (this.finished || this.remoteEnded) return;
    if (length > this.recvCredit) {
      this.destroy(new CosignerError('ERR_FLOW_CONTROL', `stream ${this.id}: peer sent ${length} bytes with ${this.recvCredit} bytes of credit`));
      return;
    }
    this.recvCredit -= length;
    if (length === 0) return;
    if (this.sink) {
      if (Array.isArray(data)) this.writeSink(data.length === 1 ? data[0]! : null, data, length);
      else this.writeSink(data, null, length);
      return;
    }
    // One buffer per frame: the consumer (TLS, a socket) then handles one chunk per frame.
    if (Array.isArray(data)) data = data.length === 1 ? data[0]! : Buffer.concat(data, length);
    this.queue.push(data);
    this.queued += data.length;
    this.drain();
  }

  /** @internal WindowUpdate from the remote. */
  onWindowUpdate(increment: number): void {
    if (this.finished) return;
    if (increment <= 0 || this.sendCredit + increment > MAX_WINDOW) {
      this.destroy(new CosignerError('ERR_FLOW_CONTROL', `stream ${this.id}: invalid window update ${increment}`));
      return;
    }
    this.sendCredit += increment;
    this.continueWrite();
  }

  /** @internal StreamHalfClose from the remote. */
  onHalfClose(): void {
    if (this.remoteEnded) return;
    this.remoteEnded = true;
    this.sink?.end();
    this.drain();
  }

  /** @internal StreamClose from the remote, or the connection went away. */
  onClose(err: CosignerError | null): void {
    if (this.finished) return;
    this.finished = true;
    this.host.release(this.id);
    this.queue = [];
    this.queued = 0;
    this.destroy(err ?? new CosignerError('ERR_STREAM_RESET', `stream ${this.id} reset by peer`));
  }

  private maybeRelease(): void {
    if (!this.finished && this.localEnded && this.remoteEnded && this.queue.length === 0) {
      this.finished = true;
      this.host.release(this.id);
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      this.host.release(this.id);
      const reason = err ?? new CosignerError('ERR_CANCELLED', `stream ${this.id} closed before it ended`);
      this.host.send({ streamId: this.id, close: { error: toWireError(reason) } });
    }
    this.queue = [];
    this.queued = 0;
    this.sink = null;
    // A write still waiting for credit is dropped with the stream; destroy() reports the error.
    this.pendingWrite = null;
    this.out = null;
    this.outLen = 0;
    cb(err);
  }
}

/** Pipes a tunnel stream and its target socket both ways with backpressure; an error ends both. */
export function splice(stream: MuxStream, target: Duplex): void {
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
