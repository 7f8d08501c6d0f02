// Runs on the parent (in the `cosigner` CLI and in tests). Client of the control socket: one
// connection, requests matched to responses by id, response size bounded.
import { connect, type Socket } from 'node:net';
import { CosignerError, isErrorCode } from '../../proto/errors.ts';
import type { ControlArgs, ControlMethod, ControlResult } from './method-types.ts';
import { MAX_RESPONSE_BYTES, type ControlResponse } from './protocol.ts';

/** A connection to the daemon's control socket. */
export class ControlClient {
  readonly #sock: Socket;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: CosignerError) => void; timer: NodeJS.Timeout }>();
  #next = 1;
  #buf = '';
  #closed: CosignerError | null = null;

  private constructor(sock: Socket, readonly path: string) {
    this.#sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.#onData(chunk));
    sock.on('close', () => this.#fail(new CosignerError('ERR_CONNECTION_CLOSED', `cosigner-parent closed the control connection (${path})`)));
    sock.on('error', () => undefined);
  }

  /** Connect; ERR_CONTROL_SOCKET with details.unreachable when nobody listens at `path`. */
  static connect(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      const t = setTimeout(() => {
        sock.destroy();
        reject(unreachable(path, 'timed out'));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve(new ControlClient(sock, path));
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(t);
        reject(unreachable(path, err.code ?? err.message));
      });
    });
  }

  #onData(chunk: string): void {
    this.#buf += chunk;
    if (this.#buf.length > MAX_RESPONSE_BYTES) {
      this.#fail(new CosignerError('ERR_LIMIT_EXCEEDED', 'response from cosigner-parent is too large'));
      this.#sock.destroy();
      return;
    }
    let nl: number;
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      let r: ControlResponse;
      try {
        r = JSON.parse(line) as ControlResponse;
      } catch {
        continue;
      }
      const p = typeof r.id === 'number' ? this.#pending.get(r.id) : undefined;
      if (!p) {
        // An error without an id (oversized request) fails every waiting request.
        if (r.id === null && !r.ok) this.#fail(toError(r.error));
        continue;
      }
      this.#pending.delete(r.id as number);
      clearTimeout(p.timer);
      if (r.ok) p.resolve(r.result);
      else p.reject(toError(r.error));
    }
  }

  #fail(err: CosignerError): void {
    this.#closed ??= err;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.#pending.delete(id);
    }
  }

  /** Send one request; resolves with its result or rejects with the daemon's CosignerError. */
  request<M extends ControlMethod>(method: M, ...args: ControlArgs<M>): Promise<ControlResult<M>> {
    const [params = {}, timeoutMs = 130_000] = args as [object?, number?];
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#next++;
    return new Promise<ControlResult<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new CosignerError('ERR_TIMEOUT', `cosigner-parent did not answer ${method} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#sock.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  /**
   * Send a request that bypasses the compile-time params check (tests of the daemon's own validation,
   * which must still refuse what the types would have caught).
   */
  requestUnchecked(method: string, params: unknown, timeoutMs = 130_000): Promise<unknown> {
    return (this.request as (m: string, p: unknown, t: number) => Promise<unknown>).call(this, method, params, timeoutMs);
  }

  /** Write raw bytes (tests of malformed input). */
  writeRaw(data: string): void {
    this.#sock.write(data);
  }

  close(): void {
    this.#sock.end();
    this.#sock.destroy();
  }
}

function unreachable(path: string, why: string): CosignerError {
  return new CosignerError('ERR_CONTROL_SOCKET', `cannot reach cosigner-parent at ${path} (${why}); is the daemon running? Try: systemctl status cosigner-parent, or pass --socket PATH`, {
    details: { unreachable: true, path },
  });
}

function toError(e: { code?: unknown; message?: unknown; retryable?: unknown; details?: unknown } | undefined): CosignerError {
  const code = isErrorCode(e?.code) ? e.code : 'ERR_INTERNAL';
  const message = typeof e?.message === 'string' ? e.message.slice(0, 4096) : 'error without a message';
  const details = e?.details && typeof e.details === 'object' ? (e.details as Record<string, string | number | boolean>) : undefined;
  return new CosignerError(code, message, { ...(details ? { details } : {}), ...(typeof e?.retryable === 'boolean' ? { retryable: e.retryable } : {}) });
}

/** One request on a fresh connection. */
export async function callDaemon<M extends ControlMethod>(path: string, method: M, ...args: ControlArgs<M>): Promise<ControlResult<M>> {
  const c = await ControlClient.connect(path);
  try {
    return await c.request(method, ...args);
  } finally {
    c.close();
  }
}
