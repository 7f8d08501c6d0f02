// Test doubles for the Control service's seams: an in-memory vault, a scripted unseal, a fake
// attestor and a manual clock. The real modules are exercised by the end-to-end tests (test/e2e/).
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { CosignerError } from '../../../proto/errors.ts';
import type { Attestor } from '../../../proto/attestation/types.ts';
import type { Clock } from '../../../proto/ports.ts';
import type { ApiUserRecord, CallbackSettings, SecretsState } from '../../../enclave/vault/records.ts';
import type { Backends, CallbackUpdateResult, Upstream, UpstreamHooks, VaultHandle } from '../../../enclave/services/backends.ts';

export class MemoryVault implements VaultHandle {
  generation: bigint = 1n;
  closed = false;
  constructor(public state: SecretsState) {}
  async update(mutate: (s: SecretsState) => SecretsState): Promise<void> {
    const next = mutate(this.state);
    this.state = next;
    this.generation++;
  }
  close(): void {
    this.closed = true;
  }
}

export interface FakeBackendsOptions {
  secrets?: SecretsState;
  /** Errors thrown by successive unseal attempts before it succeeds. */
  unsealErrors?: CosignerError[];
}

export class FakeBackends implements Backends {
  stored: SecretsState | undefined;
  unsealErrors: CosignerError[];
  unsealCalls = 0;
  upstreamStops = 0;
  pairCalls: { token: string; callback: CallbackSettings | undefined }[] = [];
  confirmedSeen: boolean[] = [];
  /** Requests the co-signer sent to the coordinator (change.propose, audit.record). */
  sent: { type: string; body: unknown }[] = [];
  /** When set, the coordinator is unreachable: `send` rejects with it. */
  sendError: CosignerError | undefined;
  /** The hooks the Cosigner registered (owner decisions arrive through them). */
  hooks: UpstreamHooks | undefined;
  setupError: CosignerError | undefined;

  constructor(opts: FakeBackendsOptions = {}) {
    this.stored = opts.secrets;
    this.unsealErrors = [...(opts.unsealErrors ?? [])];
  }
  /** secrets.key stored by a setup whose DB write failed (its co-signer id). */
  partial: string | undefined;
  async hasSecrets(): Promise<boolean> {
    return this.stored !== undefined || this.partial !== undefined;
  }
  async unfinishedSetup(): Promise<{ cosignerId: string } | null> {
    return this.stored === undefined && this.partial !== undefined ? { cosignerId: this.partial } : null;
  }
  async setupVault(args: { initialState: SecretsState }): Promise<VaultHandle> {
    if (this.setupError) {
      if (this.setupError.code === 'ERR_DISK_FULL') this.partial = args.initialState.identity.cosignerId;
      throw this.setupError;
    }
    this.stored = args.initialState;
    return new MemoryVault(args.initialState);
  }
  async unsealVault(): Promise<VaultHandle> {
    this.unsealCalls++;
    const e = this.unsealErrors.shift();
    if (e) throw e;
    if (this.partial && !this.stored) throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'secrets.key exists but secrets.db is missing');
    if (!this.stored) throw new CosignerError('ERR_NOT_SET_UP', 'none');
    return new MemoryVault(this.stored);
  }
  startUpstream(_vault: VaultHandle, hooks?: UpstreamHooks): Upstream {
    this.hooks = hooks;
    return {
      state: () => 'connected',
      openSessions: () => 0,
      send: async (type, body) => {
        if (this.sendError) throw this.sendError;
        this.sent.push({ type, body });
        return {};
      },
      // The real client queues audit records in its outbox; the fake records them as sent.
      audit: (r) => {
        this.sent.push({ type: 'audit.record', body: r });
      },
      stop: async () => {
        this.upstreamStops++;
      },
    };
  }
  async pairUser(args: { token: string; callback: CallbackSettings | undefined }): Promise<ApiUserRecord> {
    this.pairCalls.push({ token: args.token, callback: args.callback });
    const id = `user-${args.token.slice(0, 6)}`;
    return {
      id,
      workspace: 'ws-1',
      createdAt: 1_700_000_000_000,
      status: 'pending',
      ...(args.callback ? { callback: args.callback } : {}),
      approvalKeyPkcs8: 'aa'.repeat(48),
      keyShares: [
        {
          keyId: `${id}-ed`,
          scheme: 'frost-ed25519',
          threshold: 2,
          participants: [1, 2],
          identifier: 2,
          secretShare: 'ss'.repeat(32),
          groupPublicKey: '11'.repeat(32),
          verifyingShares: { '1': '22'.repeat(32), '2': '33'.repeat(32) },
          createdAt: 1_700_000_000_000,
        },
      ],
    };
  }
  applyCallbackUpdate(_user: ApiUserRecord, next: CallbackSettings | undefined, opts: { confirmed: boolean }): CallbackUpdateResult {
    this.confirmedSeen.push(opts.confirmed);
    if (next?.handlerPublicKeyPem && !opts.confirmed) throw new CosignerError('ERR_PERMISSION_DENIED', 'confirm');
    return { settings: next, changed: ['url'] };
  }
  identityUserData(args: { state: SecretsState; buildId: string }): Uint8Array {
    return new Uint8Array([args.state.identity.cosignerId.length & 0xff, args.buildId.length]);
  }
  missing(): readonly string[] {
    return [];
  }
}

export function fakeAttestor(mode: 'dev' | 'nsm' = 'dev'): Attestor & { requests: unknown[] } {
  const requests: unknown[] = [];
  return {
    mode,
    requests,
    async attest(req) {
      requests.push(req);
      return new Uint8Array([0x84, req.nonce?.length ?? 0, req.userData?.length ?? 0]);
    },
    async getRandom(n) {
      return new Uint8Array(n);
    },
    async describePcr(index) {
      return { index, locked: true, value: new Uint8Array(48) };
    },
  };
}

/** A clock whose sleeps resolve at once (and are counted). */
export function instantClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => 1_700_000_000_000,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
    },
  };
}

/** A logger capturing its JSON lines. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export const COORDINATOR_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PUBLIC KEY-----`;

/** The workspace owner's Ed25519 key (public half; the tests that sign owner approvals make their own). */
export const OWNER_PEM = `-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----`;

export const SETUP = {
  kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  region: 'us-east-1',
  coordinatorUrl: '127.0.0.1:7443',
  coordinatorPublicKeyPem: COORDINATOR_PEM,
  ownerPublicKeyPem: OWNER_PEM,
};
