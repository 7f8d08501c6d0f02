// Attack: root on the parent deletes the co-signer's log files to hide what the enclave approved or
// refused. Every approval decision also goes to the coordinator over the authenticated link
// (enclave/upstream/audit-outbox.ts) and is kept there (local/coordinator/audit-log.ts): the real
// CoordinatorClient and approval step against the reference coordinator, through a link the parent
// can cut (local/tcp-link.ts).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosignerError } from '../../proto/errors.ts';
import { systemClock } from '../../proto/ports.ts';
import type { CallbackClient } from '../../enclave/approval/callback-client.ts';
import { payloadDigest, serializePayload, type TxSignRequest } from '../../enclave/approval/payload.ts';
import { createApprove } from '../../enclave/services/approve.ts';
import { CoordinatorClient } from '../../enclave/upstream/client.ts';
import { memoryUserStore } from '../../enclave/upstream/user-store.ts';
import { createEphemeralCa } from '../../local/local-ca.ts';
import { startCoordinator, type RunningCoordinator } from '../../local/coordinator/server.ts';
import { startTcpLink, type TcpLink } from '../../local/tcp-link.ts';
import { tempDir } from '../support/temp-dir.ts';
import { until } from './enclave-harness.ts';
import { testAttestation } from '../support/attested.ts';

const parentLogDir = tempDir('audit-parent-log-');
const coordinatorDir = tempDir('audit-coordinator-');
const parentLog = join(parentLogDir, 'cosigner.log');
let coord: RunningCoordinator;
let link: TcpLink;
let client: CoordinatorClient;
const users = memoryUserStore();

/** The user's Callback Handler: rejects amount 13, cuts the link while deciding amount 66, approves the rest. */
let onDecide: (amount: string | undefined) => void = () => undefined;
const handler = {
  async ask(_u: unknown, _k: unknown, p: TxSignRequest) {
    const amount = (p as { amountStr?: string }).amountStr;
    onDecide(amount);
    if (amount === '13') throw new CosignerError('ERR_CALLBACK_REJECTED', 'the Callback Handler rejected the request');
    return { action: 'APPROVE', handler: true, attempts: 1, latencyMs: 1, payloadDigest: payloadDigest(serializePayload(p)) };
  },
} as unknown as CallbackClient;

interface Kept {
  cosignerId: string;
  kind: string;
  subjectId?: string;
  decision?: string;
  code?: string;
  id?: string;
}
async function coordinatorAudit(): Promise<Kept[]> {
  const res = await fetch(`${coord.restUrl}/v1/audit`);
  return ((await res.json()) as { records: Kept[] }).records;
}

beforeAll(async () => {
  const ca = await createEphemeralCa('audit coordinator CA');
  const att = await testAttestation();
  coord = await startCoordinator({ tls: await ca.issueServerCert(), dir: coordinatorDir , attestation: att.policy });
  const [host, port] = coord.cosignerUrl.split(':') as [string, string];
  link = await startTcpLink({ host, port: Number(port) });
  const kp = generateKeyPairSync('ed25519');
  // The enclave's logger writes to the parent's log sink: here a file the parent controls.
  const logger = pino(pino.destination({ dest: parentLog, sync: true }));
  client = new CoordinatorClient({
    dial: async (h, p) => net.connect({ host: h, port: p }),
    clock: systemClock,
    identity: { cosignerId: 'cosigner-audit', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') },
    attest: att.attestFor({ cosignerId: 'cosigner-audit', coordinatorAuthKeyPkcs8: kp.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') }, coord.publicKeyPem, coord.ownerPublicKeyPem),
    ownerPublicKeyPem: coord.ownerPublicKeyPem,
    coordinator: { url: link.address, publicKeyPem: coord.publicKeyPem },
    tls: { ca: ca.certPem },
    users,
    approve: createApprove({ callback: handler, logger, audit: (r) => client.audit(r) }),
    backoff: { initialMs: 20, maxMs: 100 },
  }).start();
  await client.waitConnected(10_000);
  const record = await client.pair(coord.issuePairingToken('alice', 'ws-a'), { schemes: ['frost-ed25519'] });
  users.put(record);
  await client.send('pair.commit', { pairingId: record.pairingId });
  await coord.approveUser('alice');
});

afterAll(async () => {
  await client?.stop();
  await link?.close();
  await coord?.close();
});

const tx = (amount: string) => coord.createTransaction({ userId: 'alice', asset: 'SOL', amount, destination: 'dest-1', payload: 'ab'.repeat(32), scheme: 'frost-ed25519' });

describe('a parent that deletes its log files cannot erase the coordinator\'s audit copy', () => {
  it('an approved and a rejected transaction are both recorded at the coordinator, under the authenticated co-signer id', async () => {
    const ok = await tx('1');
    expect(ok.status).toBe('signed');
    const no = await tx('13');
    expect(no.status).toBe('rejected');
    await until(() => client.auditQueued() === 0);
    const kept = await coordinatorAudit();
    const approval = (subjectId: string) => kept.filter((r) => r.subjectId === subjectId);
    expect(approval(ok.id).map((r) => `${r.kind} ${r.decision}`)).toEqual(['approval.transaction approve', 'approval.transaction.signed approve', 'approval.sign approve']);
    expect(approval(no.id)).toEqual([
      expect.objectContaining({ kind: 'approval.transaction', decision: 'reject', code: 'ERR_CALLBACK_REJECTED' }),
      expect.objectContaining({ kind: 'approval.transaction.signed', decision: 'reject' }),
    ]);
    expect(new Set(kept.map((r) => r.cosignerId))).toEqual(new Set(['cosigner-audit']));
    // Digests and codes only: nothing of the payload travels.
    expect(JSON.stringify(kept)).not.toContain('ab'.repeat(32));
  });

  it('a decision made while the parent cuts the link reaches the coordinator once it is restored', async () => {
    onDecide = (amount) => {
      if (amount === '66') link.cut();
    };
    const cut = await tx('66');
    onDecide = () => undefined;
    expect(cut.status).not.toBe('signed');
    expect(client.auditQueued()).toBeGreaterThan(0);
    expect((await coordinatorAudit()).some((r) => r.subjectId === cut.id)).toBe(false);
    link.restore();
    await until(() => client.auditQueued() === 0);
    const kept = (await coordinatorAudit()).filter((r) => r.subjectId === cut.id);
    expect(kept[0]).toMatchObject({ kind: 'approval.transaction', decision: 'approve', cosignerId: 'cosigner-audit' });
    // At-least-once, yet kept once per record id.
    const ids = (await coordinatorAudit()).map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('deleting the parent-side log leaves the coordinator\'s copy (in memory and in audit.jsonl) intact', async () => {
    expect(readFileSync(parentLog, 'utf8')).toContain('approval');
    const before = await coordinatorAudit();
    rmSync(parentLog, { force: true });
    writeFileSync(parentLog, ''); // and starts a fresh, empty one
    expect(existsSync(parentLog)).toBe(true);
    expect(await coordinatorAudit()).toEqual(before);
    const lines = readFileSync(join(coordinatorDir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Kept);
    expect(lines.map((l) => l.id)).toEqual(before.map((r) => r.id));
    expect(before.length).toBeGreaterThanOrEqual(6);
  });
});
