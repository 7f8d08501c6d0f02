// Runs on the parent. The control socket server: newline-delimited JSON requests from the `cosigner`
// CLI (protocol.ts), dispatched to the daemon's handlers. Bounded: request size, connections,
// requests in flight per connection, idle time.
import { chmod } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { checkSocketDir, checkSocketFile, clearStaleSocket } from './socket-guard.ts';
import { MAX_REQUEST_BYTES, errorResponse, parseRequest, salvageId, type ControlRequest, type ControlResponse, type Method } from './protocol.ts';

/** Handles one validated request; throws CosignerError for an error response. */
export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

export interface ControlServerOptions {
  readonly path: string;
  readonly handler: ControlHandler;
  readonly maxConnections?: number;
  readonly idleTimeoutMs?: number;
  /** Called after each request with its method (or 'invalid'), outcome code and duration. */
  readonly onRequest?: (method: Method | 'invalid', outcome: string, seconds: number) => void;
  /** A handler threw something that is not a CosignerError. */
  readonly onInternalError?: (err: unknown) => void;
}

const MAX_IN_FLIGHT_PER_CONNECTION = 8;
/** Connections served at once; one more is answered ERR_BUSY and closed (not dropped unanswered). */
export const MAX_CONTROL_CONNECTIONS = 32;
/** A connection with no request in flight and no bytes for this long is closed, freeing its slot. */
export const CONTROL_IDLE_TIMEOUT_MS = 30_000;

/** Start listening; refuses (ERR_CONTROL_SOCKET) when the socket's directory or file is unsafe. */
export async function startControlServer(o: ControlServerOptions): Promise<{ close(): Promise<void>; path: string }> {
  await checkSocketDir(o.path);
  await clearStaleSocket(o.path);
  const sockets = new Set<Socket>();
  const max = o.maxConnections ?? MAX_CONTROL_CONNECTIONS;
  // Half-open: a client that sends its request and then FIN still gets its answer.
  const server: Server = createServer({ allowHalfOpen: true }, (sock) => {
    if (sockets.size >= max) {
      // server.maxConnections would reset the socket unanswered (EPIPE at the client).
      sock.on('error', () => undefined);
      sock.end(JSON.stringify(errorResponse(null, new CosignerError('ERR_BUSY', `the daemon is serving ${max} control connections; retry shortly`))) + '\n');
      sock.destroySoon();
      o.onRequest?.('invalid', 'ERR_BUSY', 0);
      return;
    }
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    serveConnection(sock, o);
  });
  // Created with umask 0177 so the socket is never reachable by others, not even between listen() and chmod().
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', (err) => rej(new CosignerError('ERR_CONTROL_SOCKET', `cannot listen on ${o.path}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })));
      server.listen(o.path, () => res());
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(o.path, 0o600);
  await checkSocketFile(o.path);
  return {
    path: o.path,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}

function serveConnection(sock: Socket, o: ControlServerOptions): void {
  let buf = '';
  let inFlight = 0;
  let ended = false;
  sock.setEncoding('utf8');
  const idleMs = o.idleTimeoutMs ?? CONTROL_IDLE_TIMEOUT_MS;
  sock.setTimeout(idleMs, () => {
    // A long request (restart, upgrade) is not idleness: wait for its answer.
    if (inFlight > 0) sock.setTimeout(idleMs);
    else sock.destroy();
  });
  const send = (r: ControlResponse): void => {
    if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(r) + '\n');
  };
  const finish = (): void => {
    if (ended && inFlight === 0 && !sock.destroyed) sock.end();
  };
  sock.on('end', () => {
    ended = true;
    // The last request may end with FIN instead of a newline: it is still a request.
    const rest = buf;
    buf = '';
    if (rest.trim() !== '' && Buffer.byteLength(rest) <= MAX_REQUEST_BYTES) handleLine(rest);
    finish();
  });
  sock.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === '') continue;
      handleLine(line);
    }
    if (Buffer.byteLength(buf) > MAX_REQUEST_BYTES) {
      // An over-long line cannot be answered by id (it was never parsed): answer once, then hang up.
      send(errorResponse(null, new CosignerError('ERR_LIMIT_EXCEEDED', `request is larger than ${MAX_REQUEST_BYTES} bytes`)));
      o.onRequest?.('invalid', 'ERR_LIMIT_EXCEEDED', 0);
      buf = '';
      sock.end();
      sock.pause();
    }
  });
  sock.on('error', () => undefined);

  const handleLine = (line: string): void => {
    const started = process.hrtime.bigint();
    const secs = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    let req: ControlRequest;
    try {
      req = parseRequest(line);
    } catch (err) {
      const e = toCosignerError(err, 'ERR_INVALID_ARGUMENT');
      send(errorResponse(salvageId(line), e));
      o.onRequest?.('invalid', e.code, secs());
      return;
    }
    if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION) {
      send(errorResponse(req.id, new CosignerError('ERR_BUSY', `more than ${MAX_IN_FLIGHT_PER_CONNECTION} requests in flight on one connection`)));
      o.onRequest?.(req.method, 'ERR_BUSY', secs());
      return;
    }
    inFlight += 1;
    o.handler(req).then(
      (result) => {
        send({ id: req.id, ok: true, result: result ?? null });
        o.onRequest?.(req.method, 'ok', secs());
      },
      (err: unknown) => {
        // An unexpected exception's text may hold paths or internals: the client gets a generic
        // message, the daemon's log gets the detail.
        let e: CosignerError;
        if (err instanceof CosignerError) e = err;
        else {
          o.onInternalError?.(err);
          e = new CosignerError('ERR_INTERNAL', 'internal error in cosigner-parent; see `cosigner logs`');
        }
        send(errorResponse(req.id, e));
        o.onRequest?.(req.method, e.code, secs());
      },
    ).finally(() => {
      inFlight -= 1;
      finish();
    });
  };
}
