// Reference coordinator (test stand-in, loopback only; used by end-to-end tests, the benchmark and
// `make demo`). It plays the remote service nitro-cosigner talks to: issues pairing tokens, runs DKG
// with a paired co-signer while holding the other shares itself, records the owner's approval of
// new key shares, applies a Transaction Authorization Policy, dispatches sign requests to the
// co-signer over the authenticated TLS protocol, aggregates, and verifies the final signature with
// a standard verifier (node:crypto Ed25519, BIP-340 schnorr.verify).
//
// The parts: state.ts (what it keeps), cosigner-link.ts and pairing.ts (the co-signer endpoint,
// pairing and DKG), transactions.ts (policy, approval, signing), rest.ts (the owner's REST API).
import type { AddressInfo } from 'node:net';
import { createCosignerServer } from './cosigner-link.ts';
import { createRestServer } from './rest.ts';
import { acknowledgeRestore, admitMeasurements, approveUser, createState, issuePairingToken, type CoordinatorOptions, type TransactionRecord } from './state.ts';
import { createTransaction } from './transactions.ts';
import { auditRecords } from './audit-log.ts';
import { decideChange, listChanges, type ChangeEntry } from './changes.ts';

export type { CoordinatorOptions, TimingBreakdown, TransactionRecord } from './state.ts';
export type { ChangeEntry } from './changes.ts';

export interface RunningCoordinator {
  readonly restUrl: string;
  /** `127.0.0.1:port` of the co-signer endpoint. */
  readonly cosignerUrl: string;
  readonly publicKeyPem: string;
  /**
   * The workspace owner's Ed25519 public key. The reference coordinator also holds the owner's private
   * key, standing in for the owner's own device: a real deployment never gives it to the coordinator.
   */
  readonly ownerPublicKeyPem: string;
  issuePairingToken(userId: string, workspace: string, opts?: { lifetimeMs?: number }): string;
  /** Owner approval of a user's new key shares (same as POST /v1/users/:id/approve). */
  approveUser(userId: string): Promise<void>;
  /** Create and run a transaction (same as POST /v1/transactions). */
  createTransaction(input: unknown): Promise<TransactionRecord>;
  /** The sealed-DB generation high-water mark kept for a co-signer (undefined before its first report). */
  generationMark(cosignerId: string): number | undefined;
  /**
   * Owner acknowledgement of a deliberate restore (same as POST /v1/cosigners/:id/generation):
   * sets the co-signer's mark to `generation`, which may be lower than the current one.
   */
  acknowledgeRestore(cosignerId: string, generation: number): void;
  /**
   * The coordinator operator admits another enclave build (an upgrade's new image) besides the
   * configured ones; kept in the state dir across restarts (persist.ts).
   */
  admitMeasurements(m: { readonly PCR0: string; readonly PCR1: string; readonly PCR2: string }): void;
  /** Number of connected co-signers. */
  connectedCosigners(): number;
  /** Pending owner-gated changes (same as GET /v1/changes). */
  changes(): ChangeEntry[];
  /** The owner's decision on a change (same as POST /v1/changes/:id/approve|reject). */
  decideChange(changeId: string, decision: 'approve' | 'reject'): Promise<ChangeEntry & { applied: boolean }>;
  /** Audit records co-signers sent (same as GET /v1/audit). */
  audit(): unknown[];
  close(): Promise<void>;
}

/** Starts the reference coordinator on loopback. */
export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const st = createState(opts);
  const tlsServer = createCosignerServer(st, opts.tls);
  const rest = createRestServer(st);

  await new Promise<void>((resolve, reject) => tlsServer.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', resolve));
  await new Promise<void>((resolve, reject) => rest.once('error', reject).listen(opts.restPort ?? 0, '127.0.0.1', resolve));
  const tlsPort = (tlsServer.address() as AddressInfo).port;
  const restPort = (rest.address() as AddressInfo).port;

  return {
    restUrl: `http://127.0.0.1:${restPort}`,
    cosignerUrl: `127.0.0.1:${tlsPort}`,
    publicKeyPem: st.key.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    ownerPublicKeyPem: st.ownerKey.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    issuePairingToken: (userId, workspace, o = {}) => issuePairingToken(st, userId, workspace, o),
    approveUser: (userId) => approveUser(st, userId),
    createTransaction: (input) => createTransaction(st, input),
    generationMark: (id) => st.marks.get(id)?.generation,
    acknowledgeRestore: (cosignerId, generation) => acknowledgeRestore(st, cosignerId, generation),
    admitMeasurements: (m) => admitMeasurements(st, m),
    connectedCosigners: () => [...st.cosigners.values()].filter((c) => c.conn && !c.conn.closed).length,
    changes: () => listChanges(st),
    decideChange: (changeId, decision) => decideChange(st, changeId, decision),
    audit: () => auditRecords(st),
    async close() {
      for (const c of st.cosigners.values()) c.conn?.close('coordinator closing');
      for (const c of st.provisional.values()) c.conn.close('coordinator closing');
      for (const s of st.sockets) s.destroy();
      rest.closeAllConnections();
      await Promise.all([new Promise((r) => tlsServer.close(r)), new Promise((r) => rest.close(r)), st.signer.close()]);
    },
  };
}
