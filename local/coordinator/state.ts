// Reference coordinator (test stand-in, loopback only). Its state, shared by the co-signer link
// (pairing, DKG, generation marks), the transaction signer and the owner's REST API, and the
// operations on it that more than one of them uses.
import type { SignFormat } from '../../proto/coordinator/messages.ts';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../../parent/storage/write-file-atomic.ts';
import type { Socket } from 'node:net';
import path from 'node:path';
import { CosignerError } from '../../proto/errors.ts';
import type { PeerConnection } from '../../proto/coordinator/connection.ts';
import { spkiB64 } from '../../proto/coordinator/envelope.ts';
import { isWireGeneration } from '../../proto/coordinator/handshake.ts';
import { createPairingToken } from '../../proto/coordinator/pairing-token.ts';
import type { DkgSession, WireDkgRound1 } from '../../enclave/mpc/dkg.ts';
import type { KeyShareRecord, ThresholdScheme } from '../../enclave/vault/records.ts';
import type { AttestationPolicy, Measurements } from '../../proto/coordinator/attested-link.ts';
import type { PairingSummaryView } from './attestation.ts';
import { DEFAULT_POLICY, type Policy } from './policy.ts';
import type { CoordinatorSigner } from './signer-core.ts';
import { localSigner } from './signer-core.ts';
import { workerSigner } from './signer-pool.ts';
import { ownerSignsActivation } from './attestation.ts';
import { loadPersisted, savePersisted } from './persist.ts';
import { ecdsaProtocols, type EcdsaProtocols } from '../../enclave/mpc/ecdsa/host/protocols.ts';
import type { CoordinatorRelay } from './ecdsa-relay.ts';
import type { WireEcdsaMessage } from '../../proto/coordinator/mpc-wire.ts';

export interface CoordinatorOptions {
  /** Where the coordinator key is kept (coordinator-key.pem, 0600); in memory when absent. */
  readonly dir?: string;
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  /** Co-signer endpoint port (0 = any). */
  readonly port?: number;
  /** REST port (0 = any). */
  readonly restPort?: number;
  /** Threshold and participant count of new keys (default 2-of-2; the co-signer is identifier 1). */
  readonly threshold?: number;
  readonly participants?: number;
  readonly policy?: Policy;
  /** Time source for token issue/expiry (tests). */
  readonly now?: () => number;
  /**
   * Worker threads for the per-signature cryptography (own rounds, aggregation, verification);
   * 0 (default) runs it in the main thread. main.ts uses one per core.
   */
  readonly cryptoWorkers?: number;
  /**
   * Which enclaves may connect and pair: the attestation root (the development authority's in local
   * mode, the AWS Nitro root in production) and the allowed PCR0/1/2. Absent: every co-signer is
   * refused (fail closed).
   */
  readonly attestation?: AttestationPolicy;
  /** Test seam: the threshold ECDSA protocols the coordinator's own parties run (default: this build's). */
  readonly ecdsaProtocols?: EcdsaProtocols;
}

export interface TimingBreakdown {
  approvalMs: number;
  cosignerCommitMs: number;
  ownCommitMs: number;
  cosignerShareMs: number;
  ownShareMs: number;
  aggregateMs: number;
  verifyMs: number;
  totalMs: number;
}

/** One signed message of a transaction: its own FROST session with the key derived at its path. */
export interface TransactionEntry {
  readonly keyDerivationPath: string;
  readonly format: SignFormat;
  readonly rawTx: string;
  readonly payload: string;
  /** The derived key as a standard verifier takes it, hex (x-only for BIP-340; compressed for ECDSA). */
  publicKey?: string;
  /** FROST: the 64-byte signature; dkls23-secp256k1: ECDSA r ‖ s (64 bytes, low-S), hex. */
  signature?: string;
  /** dkls23-secp256k1 only: the recovery id (0 or 1) of `signature`. */
  recovery?: number;
  verified?: boolean;
}

export interface TransactionRecord {
  readonly id: string;
  /** The handler-facing description sent to the co-signer (txId, requestId, asset, amountStr, …). */
  readonly request: Readonly<Record<string, unknown>>;
  readonly entries: TransactionEntry[];
  readonly userId: string;
  readonly asset: string;
  readonly amount: string;
  readonly destination: string;
  readonly scheme: ThresholdScheme;
  readonly payload: string;
  status: 'pending' | 'signing' | 'signed' | 'blocked' | 'rejected' | 'failed';
  policyRule?: string;
  signature?: string;
  publicKey?: string;
  verified?: boolean;
  error?: { code: string; message: string; details?: unknown };
  approval?: { decision: string; signature: string };
  timings?: TimingBreakdown;
}

export interface UserKey {
  readonly scheme: ThresholdScheme;
  readonly keyId: string;
  /** For frost-secp256k1-tr keys with a chain code: the untweaked even-y internal key (docs/derivation.md). */
  readonly groupPublicKey: string;
  /** 32-byte hex chain code agreed in the DKG; absent on keys made before derivation existed. */
  readonly chainCode?: string;
  readonly own: KeyShareRecord[];
  /**
   * dkls23-secp256k1: refreshed shares kept aside until the co-signer commits the refresh
   * (ecdsa.refresh.commit); `own` stays what the coordinator signs with until then.
   */
  pendingRefresh?: { readonly refreshId: string; readonly own: KeyShareRecord[] };
}

export interface UserEntry {
  readonly id: string;
  readonly workspace: string;
  readonly cosignerId: string;
  readonly approvalPublicKey: KeyObject;
  status: 'pending' | 'active';
  readonly keys: UserKey[];
  /** What the co-signer reported at the end of pairing; the owner approves exactly this. */
  summary?: PairingSummaryView;
  /** The pairing this user was committed from (pair.commit is idempotent on it). */
  readonly pairingId?: string;
}

export interface Pairing {
  readonly id: string;
  readonly userId: string;
  readonly workspace: string;
  readonly cosignerId: string;
  readonly cosignerKey: KeyObject;
  readonly approvalPublicKey: KeyObject;
  readonly schemes: ThresholdScheme[];
  readonly dkg: Map<ThresholdScheme, { parties: DkgSession[]; round1: WireDkgRound1[]; cosigner1?: WireDkgRound1; result?: KeyShareRecord[] }>;
  readonly keys: UserKey[];
  /** The identity the co-signer attested at pair.register. */
  readonly attestedAuthKey: string;
  /** When pair.register created it: uncommitted pairings are dropped after PAIRING_COMMIT_TTL_MS. */
  readonly startedAt?: number;
  /** The pairing summary, kept until pair.commit turns the pairing into a user. */
  summary?: PairingSummaryView;
  /** The threshold ECDSA key generation in progress (ecdsa.dkg): own parties and the co-signer's last round. */
  ecdsaDkg?: { readonly relay: CoordinatorRelay<KeyShareRecord>; pending: readonly WireEcdsaMessage[] };
}

export function loadOrCreateKey(dir: string | undefined, name = 'coordinator-key.pem'): { privateKey: KeyObject; publicKey: KeyObject } {
  if (dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, name);
    if (existsSync(file)) {
      const privateKey = createPrivateKey(readFileSync(file, 'utf8'));
      return { privateKey, publicKey: createPublicKey(privateKey) };
    }
    const kp = generateKeyPairSync('ed25519');
    writeFileAtomicSync(file, kp.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
    return kp;
  }
  return generateKeyPairSync('ed25519');
}

export const MAX_MARKS = 10_000;

/** Per co-signer sealed-DB high-water marks, bound to the co-signer's auth key. */
export type Marks = Map<string, { key: string; generation: number }>;

export function loadMarks(dir: string | undefined): Marks {
  const marks: Marks = new Map();
  if (!dir) return marks;
  const file = path.join(dir, 'generation-marks.json');
  if (!existsSync(file)) return marks;
  // Fail closed: a damaged file stops the coordinator rather than silently dropping every floor.
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { key?: unknown; generation?: unknown }>;
  for (const [id, m] of Object.entries(raw).slice(0, MAX_MARKS)) {
    if (typeof m?.key !== 'string' || !isWireGeneration(m.generation)) throw new Error(`generation-marks.json: bad entry for ${id}`);
    marks.set(id, { key: m.key, generation: m.generation });
  }
  return marks;
}

export function saveMarks(dir: string | undefined, marks: Marks): void {
  if (!dir) return;
  const file = path.join(dir, 'generation-marks.json');
  writeFileAtomicSync(file, JSON.stringify(Object.fromEntries(marks)), 0o600);
}

/** Everything the coordinator keeps while it runs. */
export interface CoordinatorState {
  readonly dir: string | undefined;
  readonly key: { privateKey: KeyObject; publicKey: KeyObject };
  /** Stand-in for the owner's device (see RunningCoordinator.ownerPublicKeyPem). */
  readonly ownerKey: { privateKey: KeyObject; publicKey: KeyObject };
  readonly now: () => number;
  readonly threshold: number;
  /** Participant identifiers 1..n; the co-signer is 1. */
  readonly participants: number[];
  readonly signer: CoordinatorSigner;
  readonly usedTokens: Set<string>;
  /**
   * Who spent each used token nonce: only that co-signer (same auth key) may present the token
   * again, to restart a pairing that never reached pair.commit.
   */
  readonly tokenHolders: Map<string, { cosignerId: string; key: string; userId: string }>;
  /** Paired co-signers, by id, with their auth key and current connection. */
  readonly cosigners: Map<string, { key: string; conn?: PeerConnection }>;
  /** Connected co-signers that have not paired yet (may only pair). */
  readonly provisional: Map<string, { key: string; conn: PeerConnection }>;
  readonly pairings: Map<string, Pairing>;
  readonly users: Map<string, UserEntry>;
  readonly txs: Map<string, TransactionRecord>;
  readonly sockets: Set<Socket>;
  readonly marks: Marks;
  policy: Policy;
  /** The configured attestation policy plus the builds admitted since (admitMeasurements). */
  attestation: AttestationPolicy | undefined;
  /** Builds admitted after start (an upgrade), kept across restarts by persist.ts. */
  readonly admitted: Measurements[];
  /** Outstanding pair.challenge nonces (hex) → co-signer id and expiry. */
  readonly challenges: Map<string, { cosignerId: string; expiresAt: number }>;
  /** The threshold ECDSA protocols of the coordinator's own parties. */
  readonly ecdsa: EcdsaProtocols;
  /** Threshold ECDSA key refreshes in progress (ecdsa.refresh), by refresh id. */
  readonly refreshes: Map<string, { readonly cosignerId: string; readonly userId: string; readonly keyId: string; readonly relay: CoordinatorRelay<KeyShareRecord>; pending: readonly WireEcdsaMessage[]; readonly startedAt: number }>;
}

export function createState(opts: CoordinatorOptions): CoordinatorState {
  const key = loadOrCreateKey(opts.dir);
  const ownerKey = loadOrCreateKey(opts.dir, 'owner-key.pem');
  const threshold = opts.threshold ?? 2;
  const n = opts.participants ?? 2;
  if (threshold < 2 || threshold > n || n > 16) throw new Error('threshold must be 2..participants, participants ≤ 16');
  // A restart on the same dir takes back its users, their shares and the paired co-signers.
  const kept = loadPersisted(opts.dir);
  const admitted = kept?.admittedMeasurements ?? [];
  const signer = opts.cryptoWorkers ? workerSigner(opts.cryptoWorkers) : localSigner();
  return {
    dir: opts.dir,
    key,
    ownerKey,
    now: opts.now ?? Date.now,
    threshold,
    participants: Array.from({ length: n }, (_, i) => i + 1),
    signer,
    usedTokens: kept?.usedTokens ?? new Set(),
    tokenHolders: kept?.tokenHolders ?? new Map(),
    cosigners: kept?.cosigners ?? new Map(),
    provisional: new Map(),
    pairings: new Map(),
    users: kept?.users ?? new Map(),
    txs: new Map(),
    sockets: new Set(),
    marks: loadMarks(opts.dir),
    policy: opts.policy ?? DEFAULT_POLICY,
    // Admitted builds only widen a configured policy: with none configured every co-signer stays refused.
    attestation: opts.attestation ? { ...opts.attestation, allowedMeasurements: [...opts.attestation.allowedMeasurements, ...admitted] } : undefined,
    admitted,
    challenges: new Map(),
    ecdsa: opts.ecdsaProtocols ?? ecdsaProtocols,
    refreshes: new Map(),
  };
}

/** Writes what a restart must find again (persist.ts); call after every change to it. */
export function persist(st: CoordinatorState): void {
  savePersisted(st);
}

/**
 * The coordinator operator admits another enclave build (an upgrade's new image): co-signers
 * attesting it may connect from now on, and after a restart. Refused without an attestation policy.
 */
export function admitMeasurements(st: CoordinatorState, m: Measurements): void {
  if (!st.attestation) throw new CosignerError('ERR_ATTESTATION_REFUSED', 'this coordinator has no attestation policy configured');
  const same = (a: Measurements): boolean => a.PCR0.toLowerCase() === m.PCR0.toLowerCase() && a.PCR1.toLowerCase() === m.PCR1.toLowerCase() && a.PCR2.toLowerCase() === m.PCR2.toLowerCase();
  if (st.attestation.allowedMeasurements.some(same)) return;
  const entry = { PCR0: m.PCR0.toLowerCase(), PCR1: m.PCR1.toLowerCase(), PCR2: m.PCR2.toLowerCase() };
  st.admitted.push(entry);
  st.attestation = { ...st.attestation, allowedMeasurements: [...st.attestation.allowedMeasurements, entry] };
  persist(st);
}

/**
 * The mark is kept only for a co-signer that paired here (or whose key the mark already names):
 * an unpaired party cannot plant a floor for someone else's co-signer id.
 */
export function markEntry(st: CoordinatorState, cosignerId: string, clientKey: KeyObject, create: boolean): { key: string; generation: number } | undefined {
  const k = spkiB64(clientKey);
  const m = st.marks.get(cosignerId);
  if (m) return m.key === k ? m : undefined;
  if (!create || st.cosigners.get(cosignerId)?.key !== k || st.marks.size >= MAX_MARKS) return undefined;
  const fresh = { key: k, generation: 0 };
  st.marks.set(cosignerId, fresh);
  return fresh;
}

/** Raises the mark to `generation`; refuses (ERR_ROLLBACK) a generation below it. */
export function raiseMark(st: CoordinatorState, cosignerId: string, clientKey: KeyObject, generation: number): number {
  const m = markEntry(st, cosignerId, clientKey, true);
  if (!m) return 0;
  if (generation < m.generation) return m.generation;
  if (generation > m.generation) {
    m.generation = generation;
    saveMarks(st.dir, st.marks);
  }
  return m.generation;
}

export function acknowledgeRestore(st: CoordinatorState, cosignerId: string, generation: number): void {
  if (!isWireGeneration(generation)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'generation must be a non-negative integer');
  const m = st.marks.get(cosignerId);
  if (!m) throw new CosignerError('ERR_NOT_FOUND', 'no generation mark for this co-signer');
  m.generation = generation;
  saveMarks(st.dir, st.marks);
}

export function connFor(st: CoordinatorState, user: UserEntry): PeerConnection {
  const conn = st.cosigners.get(user.cosignerId)?.conn;
  if (!conn || conn.closed) throw new CosignerError('ERR_UNAVAILABLE', 'the co-signer is not connected');
  return conn;
}

export async function approveUser(st: CoordinatorState, userId: string): Promise<void> {
  const user = st.users.get(userId);
  if (!user) throw notCommitted(st, userId);
  await connFor(st, user).request('user.activate', ownerSignsActivation(st.ownerKey.privateKey, user, st.now()));
  user.status = 'active';
  persist(st);
}

/** Uncommitted pairings (no pair.commit) live this long; then the co-signer pairs afresh. */
export const PAIRING_COMMIT_TTL_MS = 10 * 60_000;

/** Drops pairings that never reached pair.commit in time. */
export function sweepPairings(st: CoordinatorState): void {
  const now = st.now();
  for (const [id, p] of st.pairings) if ((p.startedAt ?? now) + PAIRING_COMMIT_TTL_MS <= now) st.pairings.delete(id);
}

/** Why there is no user: still being paired (the owner cannot approve it yet) or unknown. */
export function notCommitted(st: CoordinatorState, userId: string): CosignerError {
  sweepPairings(st);
  const inFlight = [...st.pairings.values()].find((p) => p.userId === userId);
  if (!inFlight) return new CosignerError('ERR_NOT_FOUND', 'no such user');
  return new CosignerError(
    'ERR_PAIRING_UNCOMMITTED',
    `user ${userId} is still being paired by co-signer ${inFlight.cosignerId}: it has not confirmed its sealed key share (pair.commit); re-run add-user with the same token on that co-signer`,
    { details: { userId, cosignerId: inFlight.cosignerId, pairingId: inFlight.id } },
  );
}

export function issuePairingToken(st: CoordinatorState, userId: string, workspace: string, o: { lifetimeMs?: number } = {}): string {
  return createPairingToken({ userId, workspace, now: st.now(), ...(o.lifetimeMs !== undefined ? { lifetimeMs: o.lifetimeMs } : {}) }, st.key).token;
}
