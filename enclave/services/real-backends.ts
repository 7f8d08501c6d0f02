// Runs in the enclave. Wires the production modules behind the Backends seam the Control service
// uses: the vault (enclave/vault, KMS through enclave/kms), the coordinator client and pairing
// (enclave/upstream), Callback Handler approvals (enclave/approval) and the attestation identity.
import type { Logger } from 'pino';
import { CosignerError } from '../../proto/errors.ts';
import { PROTOCOL_VERSION } from '../../proto/runtime/schema.ts';
import { CallbackClient } from '../approval/callback-client.ts';
import { applyCallbackUpdate, validateCallbackSettings } from '../approval/settings.ts';
import { recordCallbackChange, recordCallbackRefused } from '../approval/audit.ts';
import { identityUserData } from '../../proto/attestation/identity.ts';
import type { Attestor } from '../../proto/attestation/types.ts';
import { createKmsClient } from '../kms/client.ts';
import { admitKmsKey } from '../kms/key-admission.ts';
import type { PolicyAdmission } from '../../proto/kms/policy-admission.ts';
import type { Clock, EnclavePorts } from '../../proto/ports.ts';
import { CoordinatorClient } from '../upstream/client.ts';
import { userStoreFromVault } from '../upstream/user-store.ts';
import { SECRETS_DB_BLOB, SECRETS_KEY_BLOB, Vault } from '../vault/vault.ts';
import type { SecretsState } from '../vault/records.ts';
import { createApprove } from './approve.ts';
import type { Backends, KmsSettings, Upstream, UpstreamHooks, VaultHandle } from './backends.ts';
import { readBootDescriptor, writeBootDescriptor, type BootDescriptor } from './boot-descriptor.ts';
import { setupBinding, setupMismatch } from './setup-binding.ts';
import { UNBUNDLED_BUILD_ID } from './build-id.ts';
import { callbackSigningKey, identityKeysOf } from './identity.ts';

export interface RealBackendsOptions {
  readonly ports: EnclavePorts;
  readonly attestor: Attestor;
  readonly logger: Logger;
  readonly localMode: boolean;
  /** Local mode: PEM trust anchors for KMS, coordinator and handler TLS. */
  readonly tlsCaPem: string | undefined;
  readonly callback: { readonly timeoutMs?: number; readonly retryIntervalMs?: number; readonly retryTotalMs?: number; readonly clockSpeedup?: number };
  /** The RETRY schedule's clock (default ports.clock); a development build may speed it up (build-profile.ts). */
  readonly callbackClock?: Clock;
  /** How long a sealed write waits for the coordinator to acknowledge its generation (default 15 s). */
  readonly writeAckTimeoutMs?: number;
  /** Bound on each KMS call, retries included (default: enclave/kms/client.ts's 10 s). Tests shorten it. */
  readonly kmsCallDeadlineMs?: number;
}

/** The coordinator client as the vault's write gate sees it (CoordinatorClient fits). */
type WriteGate = Pick<CoordinatorClient, 'floor' | 'refusal' | 'acknowledgeGeneration'>;

/** The gate of each open vault: set while its coordinator client runs. */
const writeGates = new WeakMap<VaultHandle, { gate: WriteGate | undefined }>();

/**
 * The open vault as the Control service sees it. Read-only until the coordinator stated its
 * rollback floor for this unseal and the floor accepted our generation: otherwise a parent that
 * served an old secrets.db could raise the generation past the coordinator's mark with harmless
 * writes before the client ever connects, and so launder the rollback. After ERR_ROLLBACK every
 * write is refused for good. A write reports success only once the coordinator acknowledged the new
 * generation, so nothing the caller saw succeed can later be rolled back unnoticed.
 * (Setup's first DB is sealed by Vault.setup directly: no coordinator relationship exists yet.)
 */
function handle(v: Vault, ackTimeoutMs: number): VaultHandle {
  const slot: { gate: WriteGate | undefined } = { gate: undefined };
  const h: VaultHandle = {
    get state() {
      return v.state;
    },
    get generation() {
      return v.dbGeneration;
    },
    update: async (m) => {
      const gate = slot.gate;
      const floor = gate?.floor() ?? 'unknown';
      if (floor === 'refused') {
        const r = gate?.refusal();
        throw new CosignerError('ERR_ROLLBACK', r?.message ?? 'the coordinator refused this secrets DB as older than one already used', r?.details ? { details: { ...r.details } } : {});
      }
      if (!gate || floor !== 'accepted') {
        throw new CosignerError('ERR_ROLLBACK_FLOOR_UNKNOWN', "waiting for the coordinator's rollback floor: no change is sealed before the coordinator confirmed this secrets DB is the newest; try again once `cosigner status` shows the coordinator connected");
      }
      await v.update(m);
      await gate.acknowledgeGeneration(v.dbGeneration, ackTimeoutMs);
    },
    close: () => v.close(),
  };
  writeGates.set(h, slot);
  return h;
}

/**
 * Setup's vault: secrets.key bound to the setup parameters (setup-binding.ts). Finishing a setup that
 * stored secrets.key but no DB is allowed only with the parameters it started with.
 */
async function setupBoundVault(
  blobs: EnclavePorts['blobs'],
  a: { kms: KmsSettings; client: ReturnType<typeof createKmsClient>; attestor: Attestor; initialState: SecretsState },
): Promise<Vault> {
  const { kms, client, attestor, initialState } = a;
  const cosignerId = initialState.identity.cosignerId;
  const binding = setupBinding(initialState);
  const descriptor = (b: string | undefined): BootDescriptor => ({
    version: 1,
    cosignerId,
    keyArn: kms.keyArn,
    region: kms.region,
    ...(kms.endpoint ? { kmsEndpoint: kms.endpoint } : {}),
    ...(b !== undefined ? { setupBinding: b } : {}),
  });
  const setup = (b: string | undefined) => Vault.setup({ kms: client, attestor, blobs, cosignerId, keyArn: kms.keyArn, initialState, setupBinding: b });
  if (!(await blobs.get(SECRETS_KEY_BLOB))) {
    await writeBootDescriptor(blobs, descriptor(binding));
    return setup(binding);
  }
  // Finishing a setup that stored secrets.key but no DB: only with the parameters it started
  // with. The descriptor says which (a quick, friendly refusal); KMS enforces it, since the key
  // is released only under the same EncryptionContext. A descriptor without a binding means a
  // secrets.key from before the binding existed (legacy context); a parent that strips the
  // binding gets KMS's refusal too.
  const prior = await readBootDescriptor(blobs).catch(() => null);
  if (prior?.setupBinding !== undefined && prior.setupBinding !== binding) throw setupMismatch();
  const used = prior !== null && prior.setupBinding === undefined ? undefined : binding;
  let vault: Vault;
  try {
    vault = await setup(used);
  } catch (err) {
    if (err instanceof CosignerError && err.code === 'ERR_SECRETS_KEY_CORRUPT') throw setupMismatch(err);
    throw err;
  }
  await writeBootDescriptor(blobs, descriptor(used));
  return vault;
}

/** A KMS client for `k`; the endpoint override only in a development build in local mode. */
function kmsClientFor(opts: RealBackendsOptions, endpointAllowed: boolean, k: Pick<KmsSettings, 'region' | 'endpoint'>) {
  if (k.endpoint && !endpointAllowed) throw new CosignerError('ERR_PERMISSION_DENIED', 'a KMS endpoint override is accepted only by a development build in local mode');
  return createKmsClient({
    region: k.region,
    dial: opts.ports.dial,
    credentials: opts.ports.credentials,
    ...(k.endpoint ? { endpoint: k.endpoint } : {}),
    ...(opts.tlsCaPem && endpointAllowed ? { caPem: opts.tlsCaPem } : {}),
    ...(opts.kmsCallDeadlineMs !== undefined ? { callDeadlineMs: opts.kmsCallDeadlineMs } : {}),
  });
}

/**
 * The KMS clients in use. KMS is needed only inside setupVault/unsealVault, so `use` destroys each
 * client when its call ends, and `closeAll` (co-signer shutdown) destroys any still in use: an idle
 * keep-alive tunnel is a relayed connection that would otherwise hold up the wire's close.
 */
function kmsClients(opts: RealBackendsOptions, endpointAllowed: boolean) {
  type Client = ReturnType<typeof createKmsClient>;
  const live = new Set<Client>();
  return {
    async use<T>(k: Pick<KmsSettings, 'region' | 'endpoint'>, f: (client: Client) => Promise<T>): Promise<T> {
      const client = kmsClientFor(opts, endpointAllowed, k);
      live.add(client);
      try {
        return await f(client);
      } finally {
        live.delete(client);
        client.destroy();
      }
    },
    closeAll(): void {
      for (const client of live) client.destroy();
      live.clear();
    },
  };
}

/** The Backends of a real enclave. */
export function createRealBackends(opts: RealBackendsOptions): Backends {
  const { ports, attestor, logger } = opts;
  const endpointAllowed = opts.localMode && attestor.mode === 'dev';
  const kmsPool = kmsClients(opts, endpointAllowed);
  const withKms = kmsPool.use;
  const clients = new WeakMap<Upstream, CoordinatorClient>();
  // The key policy as the enclave last read it (setup or unseal), for `status` and the identity.
  let keyPolicy: PolicyAdmission | undefined;
  const ackTimeoutMs = opts.writeAckTimeoutMs ?? 15_000;

  return {
    hasSecrets: async () => (await ports.blobs.get(SECRETS_KEY_BLOB)) !== null,

    async unfinishedSetup() {
      const [key, db] = await Promise.all([ports.blobs.get(SECRETS_KEY_BLOB), ports.blobs.get(SECRETS_DB_BLOB)]);
      if (!key || db) return null;
      const d = await readBootDescriptor(ports.blobs).catch(() => null);
      return d ? { cosignerId: d.cosignerId } : null;
    },

    async setupVault({ kms, initialState }) {
      const vault = await withKms(kms, async (client) => {
        // Before anything is stored: a key the parent could use itself is refused (docs/key-policy.md).
        keyPolicy = await admitKmsKey(client, kms.keyArn);
        return setupBoundVault(ports.blobs, { kms, client, attestor, initialState });
      });
      return handle(vault, ackTimeoutMs);
    },

    async unsealVault({ allowRollbackTo }) {
      const d = await readBootDescriptor(ports.blobs);
      if (!d) {
        if (await ports.blobs.get(SECRETS_KEY_BLOB)) throw new CosignerError('ERR_SECRETS_KEY_CORRUPT', 'secrets.key exists but cosigner.json is missing; restore it from backup');
        throw new CosignerError('ERR_NOT_SET_UP', 'not set up');
      }
      const vault = await withKms({ region: d.region, endpoint: d.kmsEndpoint }, async (client) => {
        // At every unseal: the policy may have been loosened since setup. Decrypt names the same KeyId,
        // so the policy checked is the one of the key that opens secrets.key.
        keyPolicy = await admitKmsKey(client, d.keyArn);
        return Vault.unseal({
          kms: client,
          attestor,
          blobs: ports.blobs,
          cosignerId: d.cosignerId,
          keyArn: d.keyArn,
          setupBinding: d.setupBinding,
          ...(allowRollbackTo !== undefined ? { allowRollbackTo } : {}),
        });
      });
      // The descriptor is unauthenticated: it must agree with the sealed state.
      const bindingDiffers = d.setupBinding !== undefined && (!vault.state.owner || setupBinding(vault.state) !== d.setupBinding);
      if (vault.state.kms.keyArn !== d.keyArn || vault.state.kms.region !== d.region || bindingDiffers) {
        vault.close();
        throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'cosigner.json does not match the sealed secrets DB');
      }
      return handle(vault, ackTimeoutMs);
    },

    startUpstream: (vault, o) => startUpstream(opts, endpointAllowed, clients, vault, attestIdentity(attestor, vault, o?.buildId ?? UNBUNDLED_BUILD_ID, () => keyPolicy?.changeable), o ?? {}),

    async pairUser({ token, callback, upstream, signal }) {
      const client = upstream ? clients.get(upstream) : undefined;
      if (!client) throw new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'the coordinator client is not running');
      if (callback) validateCallbackSettings(callback, { localMode: opts.localMode });
      return client.pair(token, { callback, signal });
    },

    applyCallbackUpdate(user, next, { confirmed }) {
      let r: ReturnType<typeof applyCallbackUpdate>;
      try {
        r = applyCallbackUpdate(user.callback, next, { confirmed, userId: user.id, localMode: opts.localMode });
      } catch (err) {
        // A refused trust change is worth a record too: someone tried to swap who approves.
        if (err instanceof CosignerError && err.code === 'ERR_PERMISSION_DENIED') {
          recordCallbackRefused(logger, { userId: user.id, changed: String(err.details?.changed ?? '') });
        }
        throw err;
      }
      recordCallbackChange(logger, r.audit);
      return { settings: r.settings, changed: r.changed };
    },

    identityUserData: (a) => identityUserData({ ...identityKeysOf(a.state), protocolVersion: PROTOCOL_VERSION, buildId: a.buildId, kmsPolicyChangeable: keyPolicy?.changeable }),

    kmsKeyPolicy: () => (keyPolicy ? { changeable: keyPolicy.changeable, editors: keyPolicy.editors } : undefined),

    missing: () => [],

    close: () => kmsPool.closeAll(),
  };
}

/**
 * Every coordinator connection and every pairing opens with a fresh document: the coordinator's
 * nonce and this identity, so only this enclave, running an allowed build, can speak for the co-signer.
 */
function attestIdentity(attestor: Attestor, vault: VaultHandle, buildId: string, kmsPolicyChangeable: () => boolean | undefined): (nonce: Uint8Array) => Promise<Uint8Array> {
  return async (nonce) => attestor.attest({ nonce, userData: identityUserData({ ...identityKeysOf(vault.state), protocolVersion: PROTOCOL_VERSION, buildId, kmsPolicyChangeable: kmsPolicyChangeable() }) });
}

/**
 * The coordinator client for an open vault, with the Callback Handler client its approvals use;
 * it reports every sealed-DB write's generation to the coordinator.
 */
function startUpstream(
  opts: RealBackendsOptions,
  endpointAllowed: boolean,
  clients: WeakMap<Upstream, CoordinatorClient>,
  vault: VaultHandle,
  attest: (nonce: Uint8Array) => Promise<Uint8Array>,
  hooks: UpstreamHooks = {},
): Upstream {
  const { ports, logger } = opts;
  const lifetime = new AbortController();
  const base = {
    dial: ports.dial,
    signingKey: callbackSigningKey(vault.state.identity),
    clock: opts.callbackClock ?? ports.clock,
    localMode: opts.localMode,
    logger: logger.child({ component: 'approval' }),
    ...(opts.callback.timeoutMs !== undefined ? { callTimeoutMs: opts.callback.timeoutMs } : {}),
    ...(opts.tlsCaPem && endpointAllowed ? { caPem: opts.tlsCaPem } : {}),
  };
  const wantsRetry = opts.callback.retryIntervalMs !== undefined || opts.callback.retryTotalMs !== undefined;
  let callback: CallbackClient;
  try {
    callback = new CallbackClient(
      wantsRetry ? { ...base, retry: { intervalMs: opts.callback.retryIntervalMs ?? 180_000, totalMs: opts.callback.retryTotalMs ?? 3_600_000 } } : base,
    );
  } catch (err) {
    // A schedule outside the approval module's bounds: keep its defaults rather than not signing at all.
    logger.warn({ code: (err as CosignerError).code, msg2: (err as Error).message }, 'callback RETRY schedule refused; using the default');
    callback = new CallbackClient(base);
  }
  const upstreamLog = logger.child({ component: 'upstream' });
  // Approval decisions also go to the coordinator's audit log, through the client created next.
  const auditTo: { client?: CoordinatorClient } = {};
  const client = new CoordinatorClient({
    dial: ports.dial,
    clock: ports.clock,
    identity: vault.state.identity,
    coordinator: vault.state.coordinator,
    ...(opts.tlsCaPem && endpointAllowed ? { tls: { ca: opts.tlsCaPem } } : {}),
    users: userStoreFromVault(vault),
    attest,
    ownerPublicKeyPem: vault.state.owner?.publicKeyPem,
    approve: createApprove({ callback, logger, signal: lifetime.signal, audit: (r) => auditTo.client?.audit(r) }),
    // The coordinator keeps a high-water mark of this co-signer's sealed DB: the floor an
    // enclave restart would otherwise lose (rollback by the parent, threat-model.md).
    generation: () => vault.generation,
    ...(hooks.onOwnerDecision ? { onOwnerDecision: hooks.onOwnerDecision } : {}),
    log: (level, fields, msg) => upstreamLog[level](fields, msg),
  }).start();
  auditTo.client = client;
  const slot = writeGates.get(vault);
  if (slot) slot.gate = client;
  const up: Upstream = {
    state: () => client.state(),
    refusal: () => client.refusal(),
    openSessions: () => client.openSessions(),
    send: (type, body, o) => client.send(type, body, o),
    audit: (r) => client.audit(r),
    refreshKey: (userId, keyId) => client.refreshKey(userId, keyId),
    stop: async () => {
      lifetime.abort(new CosignerError('ERR_CANCELLED', 'co-signer stopping'));
      // A stopped client acknowledges nothing: the vault is read-only again.
      if (slot?.gate === client) slot.gate = undefined;
      await client.stop();
    },
  };
  clients.set(up, client);
  return up;
}
