// Both sides. Unary RPC on a connection: the calls this side makes (ids, deadlines, cancellation) and
// the calls it serves (handler lookup, request decoding, bounded concurrency).
import type protobuf from 'protobufjs';
import { CosignerError, toCosignerError } from '../errors.ts';
import { PeerConnection } from './connection.ts';
import { MAX_METHOD, MAX_STREAM_ID, closedError, type PeerOptions } from './options.ts';
import { OutgoingCall } from './outgoing-call.ts';
import { TO_OBJECT } from './schema.ts';
import { ServedCall } from './served-call.ts';
import type { CallOptions, Handler, ServiceImpl } from './service.ts';
import { fromWireError, toWireError } from './wire-error.ts';
import type net from 'node:net';
import type { Duplex } from 'node:stream';

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** A connection that makes and serves unary calls. Peer adds tunnels on top. */
export abstract class RpcPeer extends PeerConnection {
  private readonly handlers = new Map<string, Handler>();
  private nextId: number;
  private lastRemoteId = 0;
  private deadlineTimerAt = 0;

  constructor(socket: net.Socket | Duplex, options: PeerOptions) {
    super(socket, options);
    // Parent-opened streams are odd, enclave-opened even: the two sides never pick the same id.
    this.nextId = options.role === 'parent' ? 1 : 2;
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

  protected allocateId(): number {
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
    this.deadlineTimer = setTimeout(RpcPeer.sweepDeadlines, Math.max(1, at - Date.now()), this);
    this.deadlineTimer.unref?.();
  }

  /** Fails the calls whose deadline has passed and re-arms for the earliest one left. */
  private static sweepDeadlines(peer: RpcPeer): void {
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

  /** Validates a remote-opened stream id; returns why the stream is refused, or null to serve it. */
  protected acceptRemoteId(id: number): CosignerError | null {
    // Remote-opened ids have the remote's parity and strictly increase: no reuse, no hijacking.
    if (this.isLocalId(id) || id <= this.lastRemoteId) throw new CosignerError('ERR_FRAME_MALFORMED', `stream id ${id} not valid for a new remote stream`);
    this.lastRemoteId = id;
    if (this.localGoingAway) return new CosignerError('ERR_CONNECTION_CLOSED', 'connection is closing (goaway)');
    if (this.serving.size + this.remoteOpened.size >= this.opts.maxConcurrentStreams) {
      return new CosignerError('ERR_BUSY', `too many concurrent streams (limit ${this.opts.maxConcurrentStreams})`);
    }
    return null;
  }

  protected onRequest(id: number, r: { method: string; payload: Uint8Array; deadlineMs: number }): void {
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
    void this.serve(id, method, h, req, sc);
  }

  /** Runs the handler and sends its answer, unless the caller cancelled meanwhile. */
  private async serve(id: number, method: string, h: Handler, req: unknown, sc: ServedCall): Promise<void> {
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
  }

  protected onResponse(id: number, r: { payload: Uint8Array; error?: unknown }): void {
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
}
