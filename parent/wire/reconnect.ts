// Runs on the parent. The parent owns the connection: it dials the enclave, re-runs the handshake
// after any drop, and backs off between attempts (the enclave may be restarting or being upgraded).
import { EventEmitter } from 'node:events';
import type pino from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { Peer, type PeerOptions } from '../../proto/runtime/peer.ts';

/** Backoff between attempts: exponential from minMs to maxMs with full jitter. */
export interface BackoffOptions {
  minMs?: number;
  maxMs?: number;
  /** Give up after this many consecutive failures (default: never). */
  maxAttempts?: number;
}

/**
 * Keeps one connection to the enclave alive. Emits 'connected' (peer) after each successful
 * handshake (register services on it there), 'disconnected' (err?) and 'attempt-failed' (err).
 * ERR_PROTOCOL_VERSION and ERR_BUILD_MISMATCH are still retried (an upgrade may be in progress)
 * but logged as errors.
 */
export class EnclaveConnection extends EventEmitter {
  private peer: Peer | null = null;
  private stopped = false;
  private attempts = 0;
  private wake: (() => void) | null = null;
  private readonly loopDone: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly opts: PeerOptions,
    private readonly backoff: BackoffOptions = {},
    private readonly log?: pino.Logger,
  ) {
    super();
    this.loopDone = this.loop();
  }

  /** The current peer, or null while (re)connecting. */
  get current(): Peer | null {
    return this.peer;
  }

  /** Resolves with a connected peer (waits up to timeoutMs, then ERR_ENCLAVE_NOT_RUNNING). */
  async waitConnected(timeoutMs = 30_000): Promise<Peer> {
    if (this.peer) return this.peer;
    return new Promise<Peer>((resolve, reject) => {
      const t = setTimeout(() => {
        this.removeListener('connected', on);
        reject(new CosignerError('ERR_ENCLAVE_NOT_RUNNING', `no connection to the enclave at ${this.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (p: Peer): void => {
        clearTimeout(t);
        resolve(p);
      };
      this.once('connected', on);
    });
  }

  /** Stops reconnecting and closes the current connection gracefully. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const p = this.peer;
    this.peer = null;
    if (p) await p.close();
    await this.loopDone;
  }

  private delay(): number {
    const min = this.backoff.minMs ?? 100;
    const max = this.backoff.maxMs ?? 10_000;
    const ceiling = Math.min(max, min * 2 ** Math.min(this.attempts, 20));
    return min + Math.floor(Math.random() * Math.max(0, ceiling - min));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let peer: Peer;
      try {
        peer = await Peer.connect(this.url, this.opts);
      } catch (err) {
        const e = toCosignerError(err, 'ERR_UNAVAILABLE');
        this.attempts++;
        const fatal = e.code === 'ERR_PROTOCOL_VERSION' || e.code === 'ERR_BUILD_MISMATCH';
        this.log?.[fatal ? 'error' : 'debug']({ code: e.code, attempt: this.attempts }, 'enclave connection attempt failed');
        this.emit('attempt-failed', e);
        if (this.backoff.maxAttempts !== undefined && this.attempts >= this.backoff.maxAttempts) {
          this.stopped = true;
          this.emit('gave-up', e);
          return;
        }
        await this.sleep(this.delay());
        continue;
      }
      if (this.stopped) {
        await peer.close();
        return;
      }
      this.attempts = 0;
      this.peer = peer;
      const closed = new Promise<CosignerError | undefined>((resolve) => peer.once('close', resolve));
      this.emit('connected', peer);
      const err = await closed;
      this.peer = null;
      this.emit('disconnected', err);
      if (!this.stopped) await this.sleep(this.delay());
    }
  }
}
