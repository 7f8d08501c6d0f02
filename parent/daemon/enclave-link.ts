// Runs on the parent. The parent's connection to the enclave: the parent dials (the enclave only
// listens), serves the enclave's ports on the connection (blobs, credentials, relay, log sink), and
// redials whenever the connection drops while the supervisor says the enclave is running. Dial
// attempts are bounded per enclave start and spaced, so a dead enclave costs nothing but a timer.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { Peer } from '../../proto/runtime/peer.ts';
import { typedClient, type ServiceClient } from '../../proto/runtime/typed-service.ts';
import { serveEnclavePorts } from '../wire/serve-ports.ts';
import type { BlobStore, CredentialSource } from '../../proto/ports.ts';

/** The enclave's Control service as the parent calls it (proto/control.proto, camelCase fields). */
export type ControlClientApi = ServiceClient<'cosigner.v1.Control'>;

export interface EnclaveLinkOptions {
  readonly wireUrl: string;
  /** The build id to require in the handshake, asked at every dial (it changes with the image). */
  readonly expectBuild: () => { buildId: string; strict: boolean };
  readonly blobs: BlobStore;
  readonly credentials: CredentialSource;
  readonly relay: (host: string, port: number) => Promise<Duplex>;
  readonly onLog: (line: string) => void;
  readonly logger: pino.Logger;
  /** Pause between dial attempts. */
  readonly retryMs?: number;
  /** Give up dialling after this long since the enclave started (the supervisor's health check takes over). */
  readonly dialWindowMs?: number;
}

/** Emits `connected` (Peer) and `disconnected` (CosignerError | undefined). */
export class EnclaveLink extends EventEmitter {
  #peer: Peer | null = null;
  #control: ControlClientApi | null = null;
  #generation = 0;
  #wanted = false;
  #timer: NodeJS.Timeout | null = null;
  #lastError: CosignerError | null = null;
  #connectedAt: Date | null = null;

  constructor(private readonly o: EnclaveLinkOptions) {
    super();
  }

  get connected(): boolean {
    return this.#peer !== null;
  }
  get peer(): Peer | null {
    return this.#peer;
  }
  get lastError(): CosignerError | null {
    return this.#lastError;
  }

  /** The enclave's Control client, or ERR_ENCLAVE_NOT_RUNNING saying what to do. */
  control(): ControlClientApi {
    if (!this.#control) {
      throw new CosignerError('ERR_ENCLAVE_NOT_RUNNING', 'the enclave is not connected; check `cosigner status` (it may be starting or restarting) or run `cosigner start`');
    }
    return this.#control;
  }

  /** Start dialling (called when the supervisor reports the enclave running). */
  connect(): void {
    this.#wanted = true;
    const gen = ++this.#generation;
    // A new enclave started: any connection still open belongs to the previous one.
    const stale = this.#peer;
    if (stale) {
      this.#peer = null;
      this.#control = null;
      this.#connectedAt = null;
      void stale.close().catch(() => undefined);
      this.emit('disconnected', undefined);
    }
    const deadline = Date.now() + (this.o.dialWindowMs ?? 120_000);
    const attempt = async (): Promise<void> => {
      this.#timer = null;
      if (!this.#wanted || gen !== this.#generation || this.#peer) return;
      try {
        const expected = this.o.expectBuild();
        const peer = await Peer.connect(this.o.wireUrl, {
          role: 'parent',
          buildId: expected.buildId,
          requireSameBuild: expected.strict,
          logger: this.o.logger,
          dialTimeoutMs: 2000,
        });
        if (!this.#wanted || gen !== this.#generation) {
          await peer.close();
          return;
        }
        serveEnclavePorts(peer, { blobs: this.o.blobs, credentials: this.o.credentials, relay: this.o.relay, onLog: this.o.onLog });
        this.#peer = peer;
        this.#control = typedClient(peer, 'cosigner.v1.Control');
        this.#connectedAt = new Date();
        this.#lastError = null;
        peer.once('close', (err?: CosignerError) => {
          if (this.#peer !== peer) return;
          this.#peer = null;
          this.#control = null;
          this.#connectedAt = null;
          this.emit('disconnected', err);
          if (this.#wanted && gen === this.#generation) this.#schedule(attempt, Date.now() + (this.o.dialWindowMs ?? 120_000));
        });
        this.emit('connected', peer);
      } catch (err) {
        this.#lastError = toCosignerError(err, 'ERR_CONNECTION_CLOSED');
        if (Date.now() < deadline) this.#schedule(attempt, deadline);
        else this.o.logger.warn({ code: this.#lastError.code }, 'gave up dialling the enclave; waiting for the supervisor');
      }
    };
    void attempt();
  }

  #schedule(fn: () => Promise<void>, _deadline: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void fn(), this.o.retryMs ?? 250);
  }

  /** Stop dialling and close the connection (enclave stopping). */
  async disconnect(): Promise<void> {
    this.#wanted = false;
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const p = this.#peer;
    this.#peer = null;
    this.#control = null;
    this.#connectedAt = null;
    if (p) {
      await p.close().catch(() => undefined);
      this.emit('disconnected', undefined);
    }
  }

  /** Wait until connected (bounded). */
  async waitConnected(timeoutMs: number): Promise<void> {
    if (this.#peer) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('connected', ok);
        reject(new CosignerError('ERR_ENCLAVE_NOT_RUNNING', `the enclave did not accept a wire connection within ${Math.round(timeoutMs / 1000)} s${this.#lastError ? ` (last error: ${this.#lastError.code})` : ''}`));
      }, timeoutMs);
      const ok = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.once('connected', ok);
    });
  }

  status(): { connected: boolean; connectedAt: string | null; remoteBuildId: string; lastError: { code: string; message: string } | null } {
    return {
      connected: this.#peer !== null,
      connectedAt: this.#connectedAt?.toISOString() ?? null,
      remoteBuildId: this.#peer?.remoteBuildId ?? '',
      lastError: this.#lastError ? { code: this.#lastError.code, message: this.#lastError.message } : null,
    };
  }
}
