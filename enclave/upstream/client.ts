// Runs in the enclave. The coordinator client: one long-lived TLS connection (TLS terminates here;
// the parent relays bytes), opened outward through `Dial`, re-opened with capped backoff. Every
// envelope is authenticated both ways (handshake.ts, envelope.ts). Requests from the coordinator go
// to dispatch.ts; pairing (pairing.ts) runs over the same connection.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { SessionRegistry } from '../mpc/sessions.ts';
import type { EcdsaHost } from '../mpc/ecdsa/host/host.ts';
import type { EcdsaSessionRegistry } from '../mpc/ecdsa/host/sessions.ts';
import { workerHost } from '../mpc/ecdsa/host/pool.ts';
import { createEcdsaSessions, lazyHost } from './ecdsa-link.ts';
import { refreshEcdsaKey } from './ecdsa-keys.ts';
import type { Clock, Dial } from '../../proto/ports.ts';
import type { ApiUserRecord, CallbackSettings, ThresholdScheme } from '../vault/records.ts';
import type { ApproveFn } from './approval-request.ts';
import { AuditOutbox, type AuditEntry } from './audit-outbox.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import type { PeerConnection } from '../../proto/coordinator/connection.ts';
import { RequestDispatcher } from './dispatch.ts';
import { ed25519PublicKey } from '../../proto/coordinator/envelope.ts';
import type { TransactionInfo } from '../../proto/coordinator/messages.ts';
import { pair } from './pairing.ts';
import { connectCoordinator } from './connect.ts';
import type { UserStore } from './user-store.ts';

export { approvalDigest, type ApprovalDecision, type ApproveFn, type SignApprovalRequest } from './approval-request.ts';

export type ClientState = 'not-started' | 'connecting' | 'connected' | 'disconnected' | 'unavailable';

export interface CoordinatorClientOptions {
  readonly dial: Dial;
  readonly clock: Clock;
  readonly identity: { readonly cosignerId: string; readonly coordinatorAuthKeyPkcs8: string };
  /** `host:port` and the coordinator's Ed25519 public key fixed at setup. */
  readonly coordinator: { readonly url: string; readonly publicKeyPem: string };
  /** TLS trust for the coordinator endpoint (default: Node's CA store). Verification is always on. */
  readonly tls?: { readonly ca?: string | readonly string[] };
  readonly users: UserStore;
  readonly approve: ApproveFn;
  /**
   * An attestation document with this nonce and the co-signer's identity (auth key, callback key,
   * id, coordinator and owner keys, build) as user_data: sent at every hello and pairing.
   */
  readonly attest: (nonce: Uint8Array) => Promise<Uint8Array>;
  /** The owner key sealed at setup: verifies user.activate. Undefined: every activation is refused. */
  readonly ownerPublicKeyPem: string | undefined;
  /**
   * The sealed secrets DB generation now in use. When given, every hello states it and the
   * coordinator's high-water mark is checked against it: a higher mark (an older DB served after a
   * restart) stops the client for good with ERR_ROLLBACK (see `refusal()`).
   */
  readonly generation?: () => bigint | undefined;
  /** `change.approve` from the coordinator: the owner's signed decision (enclave/services/owner-changes.ts). */
  readonly onOwnerDecision?: (body: unknown) => Promise<unknown>;
  readonly backoff?: BackoffOptions;
  /** Consecutive failures after which state() says 'unavailable' (default 5). */
  readonly unavailableAfter?: number;
  /** Stop retrying after this many consecutive failures (default: never). */
  readonly maxAttempts?: number;
  readonly handshakeTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly sessions?: { readonly maxOpen?: number; readonly ttlMs?: number };
  /** Where threshold ECDSA parties run (default: worker threads, started on first use). */
  readonly ecdsaHost?: EcdsaHost;
  readonly random?: () => number;
  /** Structured log hook; never receives secrets. */
  readonly log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;
}

/** The coordinator client of one co-signer. Implements the `Upstream` seam of enclave/services. */
export class CoordinatorClient {
  private readonly o: CoordinatorClientOptions;
  private readonly authKey: KeyObject;
  private readonly authPublicKey: KeyObject;
  private readonly coordinatorKey: KeyObject;
  private readonly host: string;
  private readonly port: number;
  private readonly registry: SessionRegistry;
  private readonly ecdsa: EcdsaSessionRegistry;
  private readonly ecdsaHost: EcdsaHost;
  private readonly dispatcher: RequestDispatcher;
  private readonly pairingNonces = new Set<string>();
  private stateValue: ClientState = 'not-started';
  private conn: PeerConnection | undefined;
  private stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private failures = 0;
  private refused: CosignerError | undefined;
  private statedGeneration: bigint | undefined;
  /** Highest generation the coordinator acknowledged (welcome or state.generation reply) since start. */
  private ackedGeneration: bigint | undefined;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** Decisions on their way to the coordinator's audit log (audit-outbox.ts). */
  private readonly outbox: AuditOutbox;

  constructor(o: CoordinatorClientOptions) {
    this.o = o;
    try {
      this.authKey = createPrivateKey({ key: Buffer.from(o.identity.coordinatorAuthKeyPkcs8, 'hex'), format: 'der', type: 'pkcs8' });
    } catch {
      throw new CosignerError('ERR_CONFIG_INVALID', 'coordinatorAuthKey is not a PKCS#8 key');
    }
    if (this.authKey.asymmetricKeyType !== 'ed25519') throw new CosignerError('ERR_CONFIG_INVALID', 'coordinatorAuthKey must be Ed25519');
    this.authPublicKey = createPublicKey(this.authKey);
    this.coordinatorKey = ed25519PublicKey(o.coordinator.publicKeyPem);
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$/.exec(o.coordinator.url.replace(/^tls:\/\//, ''));
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) throw new CosignerError('ERR_CONFIG_INVALID', 'coordinator url must be host:port');
    this.host = (m[1] as string).replace(/^\[|\]$/g, '');
    this.port = port;
    this.registry = new SessionRegistry({ clock: o.clock, ...(o.sessions ?? {}), knownElsewhere: (id) => this.ecdsa.knows(id) });
    this.ecdsaHost = o.ecdsaHost ?? lazyHost(() => workerHost());
    this.ecdsa = createEcdsaSessions({ clock: o.clock, host: this.ecdsaHost, users: o.users, knownElsewhere: (id) => this.registry.knows(id), ...(o.sessions ? { sessions: o.sessions } : {}), audit: (r) => this.audit(r), log: (l, f, m) => this.log(l, f, m) });
    this.outbox = new AuditOutbox({ clock: o.clock, link: () => this.auditLink(), log: (l, f, m) => this.log(l, f, m) });
    this.dispatcher = new RequestDispatcher({
      clock: o.clock,
      users: o.users,
      approve: o.approve,
      registry: this.registry,
      ecdsa: this.ecdsa,
      log: (l, f, m) => this.log(l, f, m),
      audit: (r) => this.audit(r),
      cosignerId: o.identity.cosignerId,
      ownerPublicKeyPem: o.ownerPublicKeyPem,
      ...(o.onOwnerDecision ? { onOwnerDecision: o.onOwnerDecision } : {}),
    });
  }

  /** Connection state, as `cosigner status` shows it. */
  state(): ClientState {
    return this.stateValue;
  }

  /** Why the client stopped for good (ERR_ROLLBACK), if it did. */
  refusal(): CosignerError | undefined {
    return this.refused;
  }

  /**
   * The rollback floor of this run: 'unknown' until a welcome accepted the generation our hello
   * stated (the coordinator's mark is not above it), 'refused' for good after ERR_ROLLBACK.
   */
  floor(): 'unknown' | 'accepted' | 'refused' {
    if (this.refused) return 'refused';
    return this.ackedGeneration !== undefined ? 'accepted' : 'unknown';
  }

  /**
   * Tells the coordinator the sealed DB's new generation after a write (`state.generation`), so its
   * high-water mark follows. Best effort: when not connected, the next hello states it anyway.
   */
  async reportGeneration(generation: bigint): Promise<void> {
    const conn = this.conn;
    if (!conn || conn.closed || this.refused) return;
    try {
      await this.sendGeneration(conn, generation);
    } catch (err) {
      this.log('warn', { code: toCosignerError(err).code }, 'coordinator did not record the secrets DB generation');
    }
  }

  /**
   * Resolves once the coordinator's mark is at least `generation` (a welcome to a hello that stated
   * it, or a `state.generation` reply), waiting for a connection if needed; ERR_WRITE_UNACKNOWLEDGED
   * after `timeoutMs`, ERR_ROLLBACK if the coordinator refuses it.
   */
  async acknowledgeGeneration(generation: bigint, timeoutMs: number): Promise<void> {
    const deadline = this.o.clock.now() + timeoutMs;
    const unacked = (cause?: unknown): CosignerError =>
      new CosignerError('ERR_WRITE_UNACKNOWLEDGED', `the change is sealed (secrets DB generation ${generation}) but the coordinator has not acknowledged it yet; the next connection reports it`, {
        details: { generation: generation.toString() },
        ...(cause !== undefined ? { cause } : {}),
      });
    while (!(this.ackedGeneration !== undefined && this.ackedGeneration >= generation)) {
      if (this.refused) throw this.refused;
      const left = deadline - this.o.clock.now();
      if (left <= 0) throw unacked();
      try {
        const conn = await this.waitConnected(left);
        await this.sendGeneration(conn, generation, left);
      } catch (err) {
        if (this.refused) throw this.refused;
        if (this.o.clock.now() >= deadline) throw unacked(err);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async sendGeneration(conn: PeerConnection, generation: bigint, timeoutMs = 10_000): Promise<void> {
    let r: unknown;
    try {
      r = await conn.request('state.generation', { generation: Number(generation) }, { timeoutMs: Math.min(timeoutMs, 10_000) });
    } catch (err) {
      const e = toCosignerError(err);
      if (e.code === 'ERR_ROLLBACK') {
        // The coordinator knows a newer DB than the one we just wrote on: stop for good.
        this.refused = e;
        conn.close('secrets DB rollback');
      }
      throw e;
    }
    const mark = (r as { generation?: unknown } | null)?.generation;
    if (typeof mark === 'number' && Number.isSafeInteger(mark) && BigInt(mark) >= generation) this.raiseAcked(generation);
  }

  private raiseAcked(g: bigint): void {
    if (this.ackedGeneration === undefined || g > this.ackedGeneration) this.ackedGeneration = g;
    this.outbox.kick();
  }

  /**
   * Records a decision in the coordinator's audit log (queued in memory until the link is up and
   * the rollback floor accepted). Never throws, never waits.
   */
  audit(entry: AuditEntry): void {
    this.outbox.record(entry);
  }

  /** Audit records not yet acknowledged by the coordinator. */
  auditQueued(): number {
    return this.outbox.size;
  }

  /**
   * The link audit records may use: connected, not refused, and (when this client states
   * generations) the coordinator accepted this run's rollback floor: records of a run on a
   * rolled-back DB never reach the coordinator's log as if they were current.
   */
  private auditLink(): PeerConnection | undefined {
    const conn = this.conn;
    if (!conn || conn.closed || this.refused) return undefined;
    if (this.o.generation !== undefined && this.floor() !== 'accepted') return undefined;
    return conn;
  }

  /**
   * One request to the coordinator (change.propose, audit.record): waits up to `timeoutMs` for the
   * connection, then ERR_COORDINATOR_UNAVAILABLE.
   */
  async send(type: string, body: unknown, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const conn = await this.waitConnected(timeoutMs);
    return conn.request(type, body, { timeoutMs });
  }

  /** Signing sessions currently open (their nonces in memory). */
  openSessions(): number {
    return this.registry.size + this.ecdsa.size;
  }

  /** `refresh-key`: new shares of a threshold ECDSA key with the coordinator, sealed (ecdsa-keys.ts). */
  async refreshKey(userId: string, keyId: string): Promise<{ keyId: string; groupPublicKey: string; refreshId: string }> {
    const coordinator = { request: async (type: string, body: unknown, ro?: { timeoutMs?: number }) => (await this.waitConnected()).request(type, body, ro) };
    return refreshEcdsaKey({ coordinator, host: this.ecdsaHost, users: this.o.users, now: this.o.clock.now(), log: (l, f, m) => this.log(l, f, m) }, userId, keyId);
  }

  /** Starts the connect/reconnect loop (idempotent). */
  start(): this {
    if (!this.loop) {
      this.stopping = new AbortController();
      this.loop = this.run().catch(() => undefined);
    }
    return this;
  }

  /** Closes the connection, stops reconnecting and aborts every open session. */
  async stop(): Promise<void> {
    this.stopping.abort(new CosignerError('ERR_CANCELLED', 'coordinator client stopped'));
    this.conn?.close('co-signer stopping');
    this.abortSessions();
    this.outbox.pause();
    await this.loop;
    await this.ecdsaHost.close();
    this.loop = undefined;
    this.stateValue = 'disconnected';
  }

  /** Resolves once connected (rejects with ERR_COORDINATOR_UNAVAILABLE after `timeoutMs`). */
  async waitConnected(timeoutMs = 30_000): Promise<PeerConnection> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (this.refused) throw this.refused;
    if (!this.loop) throw new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'coordinator client not running');
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'coordinator not connected')), timeoutMs);
      this.waiters.push({ resolve: () => (clearTimeout(t), resolve()), reject: (e) => (clearTimeout(t), reject(e)) });
    });
    return this.conn as unknown as PeerConnection;
  }

  /**
   * `add-user`: verify the token, DKG with the coordinator, return the pending user record (not
   * yet sealed: the caller seals it, then the coordinator's user.activate makes it usable).
   */
  async pair(token: string, opts: { callback?: CallbackSettings | undefined; schemes?: readonly ThresholdScheme[]; signal?: AbortSignal } = {}): Promise<ApiUserRecord> {
    const isUsed = (nonce: string): boolean => this.pairingNonces.has(nonce) || this.o.users.list().some((u) => u.pairingNonce === nonce);
    const conn = { request: async (type: string, body: unknown, ro?: { timeoutMs?: number }) => (await this.waitConnected()).request(type, body, ro) };
    let nonce: string | undefined;
    return pair({
      token,
      coordinatorKey: this.coordinatorKey,
      now: this.o.clock.now(),
      isUsed: (n) => {
        const used = isUsed(n);
        if (!used) this.pairingNonces.add((nonce = n));
        return used;
      },
      coordinator: conn,
      callback: opts.callback,
      cosignerId: this.o.identity.cosignerId,
      attest: this.o.attest,
      ecdsaHost: this.ecdsaHost,
      ...(opts.schemes ? { schemes: opts.schemes } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    }).finally(() => {
      // A failed pairing may be retried with the same token; a successful one is remembered
      // through the sealed record's pairingNonce from now on.
      if (nonce !== undefined) this.pairingNonces.delete(nonce);
    });
  }

  private abortSessions(): void {
    this.registry.abortAll();
    this.ecdsa.abortAll();
  }

  private log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void {
    this.o.log?.(level, fields, msg);
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      this.stateValue = this.failures >= (this.o.unavailableAfter ?? 5) ? 'unavailable' : 'connecting';
      try {
        const conn = await this.connect(signal);
        // stop() came while the handshake or attestation was in flight: it saw no link to close.
        if (signal.aborted) {
          conn.close('co-signer stopping');
          break;
        }
        this.failures = 0;
        this.conn = conn;
        // The welcome accepted the generation our hello stated: that is the floor of this run.
        if (this.statedGeneration !== undefined) this.raiseAcked(this.statedGeneration);
        this.stateValue = 'connected';
        this.log('info', { conn: conn.conn }, 'coordinator connected');
        for (const w of this.waiters.splice(0)) w.resolve();
        this.outbox.kick();
        // A write that landed while the handshake was in flight was not in our hello: report it.
        const now = this.o.generation?.();
        if (now !== undefined && now !== this.statedGeneration) void this.reportGeneration(now);
        const closed = await new Promise<CosignerError>((resolve) => conn.onClose(resolve));
        this.log('warn', { code: closed.code }, 'coordinator connection lost');
        if (this.refused) break;
      } catch (err) {
        const e = toCosignerError(err, 'ERR_COORDINATOR_UNAVAILABLE');
        if (e.code === 'ERR_ROLLBACK') {
          // Retrying cannot help: this DB is older than one already used. Stop until an unseal
          // with the newest backup (or an owner acknowledgement at the coordinator).
          this.refused = e;
          this.log('error', { code: e.code, ...(e.details ?? {}) }, 'secrets DB rollback detected; co-signer refuses to work');
          break;
        }
        this.failures++;
        this.log('warn', { code: e.code, failures: this.failures }, 'coordinator connect failed');
      }
      this.conn = undefined;
      // Nonces never outlive the connection their commitments went out on.
      this.abortSessions();
      if (signal.aborted) break;
      this.stateValue = this.failures >= (this.o.unavailableAfter ?? 5) ? 'unavailable' : 'disconnected';
      if (this.o.maxAttempts !== undefined && this.failures >= this.o.maxAttempts) break;
      try {
        await this.o.clock.sleep(backoffDelay(this.failures, (this.o.random ?? Math.random)(), this.o.backoff), signal);
      } catch {
        break;
      }
    }
    this.conn = undefined;
    this.abortSessions();
    if (!signal.aborted) this.stateValue = 'unavailable';
    const gone = this.refused ?? new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'coordinator client gave up or stopped');
    for (const w of this.waiters.splice(0)) w.reject(gone);
  }

  private async connect(signal: AbortSignal): Promise<PeerConnection> {
    const gen = this.o.generation?.();
    this.statedGeneration = gen;
    return connectCoordinator({
      dial: this.o.dial, host: this.host, port: this.port, ca: this.o.tls?.ca, signal,
      handshakeTimeoutMs: this.o.handshakeTimeoutMs ?? 10_000, requestTimeoutMs: this.o.requestTimeoutMs, generation: gen,
      authKey: this.authKey, authPublicKey: this.authPublicKey, cosignerId: this.o.identity.cosignerId, coordinatorKey: this.coordinatorKey,
      attest: this.o.attest, handler: (type, body, id) => this.dispatcher.handle(type, body, id),
    });
  }
}

export type { TransactionInfo };
