// Reference coordinator (test stand-in, loopback only). What it keeps across a restart besides its
// own key, the owner key (state.ts), the generation marks (state.ts) and the audit log
// (audit-log.ts): paired co-signers and their auth keys, users with their approval keys, key ids,
// group keys, chain codes and the coordinator's OWN SECRET KEY SHARES, spent pairing tokens, and the
// enclave builds admitted after start (an upgrade). Without it a restarted coordinator would forget
// every user while the co-signer still holds its half of their keys: nothing could be signed again.
//
// One file, `<dir>/coordinator-state.json` (0600), replaced atomically (temp file, fsync, rename,
// fsync of the directory) after every change, so a crash leaves the old or the new state, never a
// torn one. It holds secret shares in the clear: acceptable only because this is a local stand-in
// whose state directory is the developer's own (a real coordinator keeps its shares in its own HSMs).
// A damaged or unknown file stops the coordinator (fail closed) rather than silently starting empty.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../../parent/storage/write-file-atomic.ts';
import { isThresholdScheme } from '../../enclave/mpc/suites.ts';
import { spkiB64 } from '../../proto/coordinator/envelope.ts';
import type { Measurements } from '../../proto/coordinator/attested-link.ts';
import type { KeyShareRecord } from '../../enclave/vault/records.ts';
import type { PairingSummaryView } from './attestation.ts';
import type { CoordinatorState, UserEntry, UserKey } from './state.ts';

export const STATE_FILE = 'coordinator-state.json';
const VERSION = 1;

interface PersistedUser {
  readonly id: string;
  readonly workspace: string;
  readonly cosignerId: string;
  /** Ed25519 SPKI, base64. */
  readonly approvalPublicKey: string;
  readonly status: 'pending' | 'active';
  readonly keys: UserKey[];
  readonly summary?: PairingSummaryView;
  readonly pairingId?: string;
}

interface PersistedState {
  readonly version: number;
  readonly cosigners: Record<string, string>;
  readonly users: PersistedUser[];
  readonly usedTokens: string[];
  readonly tokenHolders: Record<string, { cosignerId: string; key: string; userId: string }>;
  readonly admittedMeasurements: Measurements[];
}

/** What a restarted coordinator takes back. */
export interface LoadedState {
  readonly cosigners: Map<string, { key: string }>;
  readonly users: Map<string, UserEntry>;
  readonly usedTokens: Set<string>;
  readonly tokenHolders: Map<string, { cosignerId: string; key: string; userId: string }>;
  readonly admittedMeasurements: Measurements[];
}

function damaged(why: string): never {
  throw new Error(`${STATE_FILE}: ${why} (damaged or from another version; remove the state dir to start afresh)`);
}

const HEX = /^[0-9a-f]+$/;

function checkShare(s: unknown, keyId: string): KeyShareRecord {
  const r = s as KeyShareRecord;
  if (typeof r !== 'object' || r === null || r.keyId !== keyId || !isThresholdScheme(r.scheme)) damaged(`bad key share of ${keyId}`);
  if (typeof r.secretShare !== 'string' || !HEX.test(r.secretShare) || typeof r.groupPublicKey !== 'string' || !HEX.test(r.groupPublicKey)) damaged(`bad key share of ${keyId}`);
  if (!Number.isInteger(r.identifier) || !Number.isInteger(r.threshold) || !Array.isArray(r.participants) || typeof r.verifyingShares !== 'object' || r.verifyingShares === null) {
    damaged(`bad key share of ${keyId}`);
  }
  return r;
}

function checkUser(u: PersistedUser): UserEntry {
  if (typeof u?.id !== 'string' || typeof u.workspace !== 'string' || typeof u.cosignerId !== 'string' || (u.status !== 'pending' && u.status !== 'active') || !Array.isArray(u.keys)) {
    damaged('bad user entry');
  }
  let approvalPublicKey: KeyObject;
  try {
    approvalPublicKey = createPublicKey({ key: Buffer.from(u.approvalPublicKey, 'base64'), format: 'der', type: 'spki' });
  } catch {
    damaged(`bad approval key of user ${u.id}`);
  }
  if (approvalPublicKey.asymmetricKeyType !== 'ed25519') damaged(`bad approval key of user ${u.id}`);
  const keys = u.keys.map((k): UserKey => {
    if (typeof k?.keyId !== 'string' || !isThresholdScheme(k.scheme) || typeof k.groupPublicKey !== 'string' || !Array.isArray(k.own) || k.own.length === 0) damaged(`bad key of user ${u.id}`);
    return { ...k, own: k.own.map((s) => checkShare(s, k.keyId)) };
  });
  return {
    id: u.id,
    workspace: u.workspace,
    cosignerId: u.cosignerId,
    approvalPublicKey,
    status: u.status,
    keys,
    ...(u.summary !== undefined ? { summary: u.summary } : {}),
    ...(u.pairingId !== undefined ? { pairingId: u.pairingId } : {}),
  };
}

/** The kept state of `dir`, or undefined when there is none yet (a new coordinator). */
export function loadPersisted(dir: string | undefined): LoadedState | undefined {
  if (!dir) return undefined;
  const file = path.join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  let raw: PersistedState;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as PersistedState;
  } catch {
    damaged('not JSON');
  }
  if (raw?.version !== VERSION) damaged(`version ${String(raw?.version)}, expected ${VERSION}`);
  if (typeof raw.cosigners !== 'object' || !Array.isArray(raw.users) || !Array.isArray(raw.usedTokens) || typeof raw.tokenHolders !== 'object' || !Array.isArray(raw.admittedMeasurements)) {
    damaged('missing fields');
  }
  const cosigners = new Map(Object.entries(raw.cosigners).map(([id, key]) => (typeof key === 'string' ? [id, { key }] : damaged(`bad co-signer ${id}`))));
  const users = new Map(raw.users.map((u) => [u.id, checkUser(u)] as const));
  for (const u of users.values()) if (!cosigners.has(u.cosignerId)) damaged(`user ${u.id} names an unknown co-signer`);
  for (const m of raw.admittedMeasurements) {
    if (![m?.PCR0, m?.PCR1, m?.PCR2].every((p) => typeof p === 'string' && /^[0-9a-f]{96}$/i.test(p))) damaged('bad admitted measurements');
  }
  return {
    cosigners,
    users,
    usedTokens: new Set(raw.usedTokens.filter((t) => typeof t === 'string')),
    tokenHolders: new Map(Object.entries(raw.tokenHolders)),
    admittedMeasurements: raw.admittedMeasurements.map((m) => ({ PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2 })),
  };
}

/** Replace `<dir>/coordinator-state.json` with the current state (no-op for an in-memory coordinator). */
export function savePersisted(st: CoordinatorState): void {
  if (!st.dir) return;
  const users: PersistedUser[] = [...st.users.values()].map((u) => ({
    id: u.id,
    workspace: u.workspace,
    cosignerId: u.cosignerId,
    approvalPublicKey: spkiB64(u.approvalPublicKey),
    status: u.status,
    keys: u.keys,
    ...(u.summary !== undefined ? { summary: u.summary } : {}),
    ...(u.pairingId !== undefined ? { pairingId: u.pairingId } : {}),
  }));
  const out: PersistedState = {
    version: VERSION,
    cosigners: Object.fromEntries([...st.cosigners].map(([id, c]) => [id, c.key])),
    users,
    usedTokens: [...st.usedTokens],
    tokenHolders: Object.fromEntries(st.tokenHolders),
    admittedMeasurements: [...st.admitted],
  };
  // 0600: the coordinator's own secret shares are in it.
  writeFileAtomicSync(path.join(st.dir, STATE_FILE), JSON.stringify(out), 0o600);
}
