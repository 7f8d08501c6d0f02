// Both sides. One connection between the parent and the enclave: handshake, unary RPC with
// deadlines and cancellation, multiplexed byte streams (tunnels) with flow control, keepalive and
// graceful close. Everything the remote sends is validated and bounded before it is acted on.
// The layers: connection.ts (socket, handshake, send/receive, keepalive, shutdown) → rpc.ts (calls)
// → this file (tunnels, frame routing, connect/listen).
import type { Duplex } from 'node:stream';
import { CosignerError, toCosignerError } from '../errors.ts';
import { dialTransport } from '../transport/index.ts';
import type { DecodedFrame } from './framing.ts';
import { listenLink, type LinkListener, type LinkListenOptions } from './link-listener.ts';
import { MAX_HOST, closedError, type PeerOptions } from './options.ts';
import { RpcPeer } from './rpc.ts';
import { MuxStream, splice } from './stream.ts';
import { fromWireError, toWireError } from './wire-error.ts';

export type { PeerOptions } from './options.ts';
export type { CallOptions, HandlerContext, ServiceImpl } from './service.ts';
export type { LinkListener, LinkListenOptions, LinkStats } from './link-listener.ts';

/**
 * One end of the parent↔enclave connection. Emits `'close'` (err?: CosignerError) once, when the
 * connection is gone; `err` is undefined after a graceful close.
 */
export class Peer extends RpcPeer {
  private tunnelHandler: ((host: string, port: number) => Promise<Duplex>) | null = null;

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
   * `onPeer`. Connections that fail it are logged and dropped. See link-listener.ts for the limits.
   */
  static listen(url: string, opts: PeerOptions, onPeer: (p: Peer) => void, limits: LinkListenOptions = {}): Promise<LinkListener> {
    return listenLink(url, opts, onPeer, (sock) => new Peer(sock, opts), limits);
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
   * Drops the connection at once, telling the remote why (goaway with `err`): the listener uses it
   * to refuse a connection it will not serve.
   */
  terminate(err: CosignerError): void {
    this.fail(err);
  }

  protected override onStreamFrame(id: number, kind: string, f: DecodedFrame): void {
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
}
