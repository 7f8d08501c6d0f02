// Runs in the enclave. The `cosigner.v1.Control` service (proto/control.proto) as the wire runtime
// registers it: protobuf objects in (camelCase fields, bytes as Uint8Array), protobuf objects out.
// All logic lives in Cosigner; this file only translates, bounds concurrency and makes sure every
// failure leaves as a CosignerError with a stable code (never a stack or a secret).
import type { Logger } from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import type { Input, ServiceHandlers } from '../../proto/runtime/typed-service.ts';
import type { cosigner as wire } from '../../proto/generated/wire.d.ts';
import type { Cosigner, StatusInfo, UserInfo } from './cosigner.ts';
import type { PendingChange } from './owner-changes.ts';
import { CONTROL_LIMITS } from './limits.ts';
import { signingStatsSnapshot } from './signing-stats.ts';

function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

function statusMessage(s: StatusInfo): Input<wire.v1.StatusResponse> {
  return {
    state: s.state,
    attestationMode: s.attestationMode,
    buildId: s.buildId,
    cosignerId: s.cosignerId,
    errorCode: s.errorCode,
    errorMessage: s.errorMessage,
    users: s.users,
    pendingUsers: s.pendingUsers,
    coordinator: s.coordinator,
    localMode: s.localMode,
    openSessions: s.openSessions,
    startedAt: s.startedAt,
    secretsGeneration: s.secretsGeneration,
    kmsPolicy: s.kmsPolicy,
    kmsPolicyEditors: [...s.kmsPolicyEditors],
    notes: [...s.notes],
    ownerKeyFingerprint: s.ownerKeyFingerprint,
    nextUnsealAttemptAt: s.nextUnsealAttemptAt,
    unsealAttempts: s.unsealAttempts,
    pendingChanges: s.pendingChanges,
    // Process-wide counters (signing-stats.ts), not Cosigner state: they survive a re-unseal.
    stats: signingStatsSnapshot(),
  };
}

function pendingMessage(c: PendingChange): Input<wire.v1.PendingChange> {
  return {
    changeId: c.changeId,
    kind: c.kind,
    userId: c.userId,
    digest: c.digest,
    summary: [...c.summary],
    expiresAt: new Date(c.expiresAt).toISOString(),
    createdAt: new Date(c.createdAt).toISOString(),
  };
}

function userMessage(u: UserInfo): Input<wire.v1.UserInfo> {
  return {
    id: u.id,
    workspace: u.workspace,
    status: u.status,
    handlerUrl: u.handlerUrl,
    authMode: u.authMode,
    keys: u.keys.map((k) => ({ ...k, participants: [...k.participants] })),
    createdAt: u.createdAt,
    handlerKeySha256: u.handlerKeySha256,
    certificateKeySha256: u.certificateKeySha256,
  };
}

/** The callback settings sub-message, or null when the request carried none. */
function callbackInput(value: unknown): Record<string, unknown> | null {
  const c = obj(value);
  return Object.keys(c).length === 0 ? null : c;
}

/**
 * The Control service implementation for `peer.register('cosigner.v1.Control', impl)`. At most
 * CONTROL_LIMITS.maxConcurrentRequests run at once; beyond that the caller gets ERR_BUSY.
 */
export function createControlService(cosigner: Cosigner, logger: Logger): ServiceHandlers<'cosigner.v1.Control'> {
  let inFlight = 0;
  const wrap =
    <Req, Res>(method: string, fn: (req: Req) => Promise<Res> | Res) =>
    async (req: Req): Promise<Res> => {
      if (inFlight >= CONTROL_LIMITS.maxConcurrentRequests) {
        throw new CosignerError('ERR_BUSY', `the enclave is serving ${inFlight} control requests: try again shortly`);
      }
      inFlight++;
      try {
        return await fn(req);
      } catch (err) {
        const e = toCosignerError(err);
        // ERR_INTERNAL may wrap an unexpected library message: log the code only, send a fixed text.
        logger.warn({ method, code: e.code }, 'control request failed');
        if (e.code === 'ERR_INTERNAL') throw new CosignerError('ERR_INTERNAL', `${method} failed inside the enclave; see the enclave log`);
        throw e;
      } finally {
        inFlight--;
      }
    };

  return {
    Setup: wrap('Setup', async (req) => {
      const r = await cosigner.setup({
        kmsKeyArn: req.kmsKeyArn,
        region: req.region,
        kmsEndpoint: req.kmsEndpoint,
        coordinatorUrl: req.coordinatorUrl,
        coordinatorPublicKeyPem: req.coordinatorPublicKeyPem,
        ownerPublicKeyPem: req.ownerPublicKeyPem,
        pairingToken: req.pairingToken,
        callback: callbackInput(req.callback),
      });
      return {
        cosignerId: r.cosignerId,
        callbackPublicKeyPem: r.callbackPublicKeyPem,
        ...(r.user ? { user: userMessage(r.user) } : {}),
        status: statusMessage(r.status),
      };
    }),
    Unseal: wrap('Unseal', async (req) => statusMessage(await cosigner.unseal({ allowRollbackTo: req.allowRollbackTo }))),
    Status: wrap('Status', () => statusMessage(cosigner.status())),
    AddUser: wrap('AddUser', async (req) => ({
      user: userMessage(await cosigner.addUser({ pairingToken: req.pairingToken, callback: callbackInput(req.callback) })),
    })),
    ListUsers: wrap('ListUsers', () => ({ users: cosigner.listUsers().map(userMessage) })),
    RemoveUser: wrap('RemoveUser', async (req) => {
      const r = await cosigner.removeUser({ userId: req.userId });
      return { userId: r.userId, pending: pendingMessage(r.pending) };
    }),
    CallbackUpdate: wrap('CallbackUpdate', async (req) => {
      const r = await cosigner.callbackUpdate({
        userId: req.userId,
        callback: callbackInput(req.callback),
        rotationSignature: req.rotationSignature,
        expiresInSeconds: req.expiresInSeconds,
      });
      return { user: userMessage(r.user), changed: [...r.changed], ...(r.pending ? { pending: pendingMessage(r.pending) } : {}), applied: r.applied };
    }),
    ListChanges: wrap('ListChanges', () => ({ changes: cosigner.listChanges().map(pendingMessage) })),
    PrintPublicKey: wrap('PrintPublicKey', () => cosigner.printPublicKey()),
    GetAttestation: wrap('GetAttestation', async (req) => {
      const r = await cosigner.getAttestation({ nonce: req.nonce });
      return { document: r.document, userData: r.userData, attestationMode: r.attestationMode };
    }),
    RefreshKey: wrap('RefreshKey', async (req) => {
      const r = await cosigner.refreshKey({ userId: req.userId, keyId: req.keyId });
      return { userId: r.userId, key: { ...r.key, participants: [...r.key.participants] }, refreshId: r.refreshId };
    }),
  };
}
