// End to end: durable sealed state in S3 (the local stack's default). Instance replacement: stack A
// sets up, pairs and signs; its daemon stops and its COSIGNER_HOME is deleted; a new daemon with a
// fresh home against the same bucket, KMS and coordinator unseals from S3 and the same user signs
// with the same group key, without pairing again. Standby takeover: two daemons on one bucket and
// lease; the second is a standby (status says so, `cosigner start` exits non-zero) until the active
// one is killed, then it takes over within the lease TTL and signs.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDaemon } from '../../parent/control/client.ts';
import { verifyWithStandardVerifier } from '../../local/demo.ts';
import type { ExtraDaemon } from '../../local/stack.ts';
import { setUpStack, signingReady, type DaemonStatus, type E2eStack } from './helpers.ts';

const msg = (s: string): string => createHash('sha256').update(s).digest('hex');
type Status = DaemonStatus & { lease?: { role?: string } };

async function statusOf(sock: string): Promise<Status | undefined> {
  return (callDaemon(sock, 'status', {}, 5_000) as Promise<Status>).catch(() => undefined);
}

async function waitFor(what: string, sock: string, ok: (s: Status) => boolean, timeoutMs: number): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let last: Status | undefined;
  while (Date.now() < deadline) {
    last = await statusOf(sock);
    if (last && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last status ${JSON.stringify(last).slice(0, 400)}`);
}

describe('end to end: sealed state in S3', () => {
  let e: E2eStack;
  const LEASE_TTL = 3_000;

  beforeAll(async () => {
    e = await setUpStack({ userId: 's3-user', storage: 's3', leaseTtlMs: LEASE_TTL });
  }, 120_000);
  afterAll(async () => {
    await e?.cleanup();
  }, 60_000);

  it('a replacement instance (fresh home, same bucket) unseals from S3 and signs for the same user', async () => {
    const a = e.stack;
    expect(a.s3).toBeDefined();
    // Nothing sealed on A's disk: the blobs are in the bucket.
    expect(existsSync(join(a.paths.home, 'db', 'secrets.db'))).toBe(false);
    await waitFor('A signing-ready', a.paths.controlSocket, signingReady, 30_000);
    const before = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('on instance A') });
    expect(before.status).toBe('signed');

    // Instance A is lost: daemon gone, home deleted.
    await a.stopDaemon();
    await rm(a.paths.home, { recursive: true, force: true });

    const b: ExtraDaemon = await a.extraDaemon('instance-b');
    await b.start();
    const started = await b.cli(['start', '--json', '--timeout', '60']);
    expect(started.code, `${started.stdout} ${started.stderr}`).toBe(0);
    await waitFor('B signing-ready', b.paths.controlSocket, signingReady, 45_000);
    const after = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('on instance B') });
    expect(after.status).toBe('signed');
    expect(after.publicKey).toBe(before.publicKey);
    expect(verifyWithStandardVerifier(after)).toBe(true);
    // No second pairing: still the one user at the coordinator.
    const users = (await (await fetch(`${a.coordinator!.restUrl}/v1/users`)).json()) as { users: { id: string; status: string }[] };
    expect(users.users).toEqual([expect.objectContaining({ id: e.userId, status: 'active' })]);
    await b.stop();
  }, 150_000);

  it('a standby takes over within the lease TTL when the active daemon is killed, and signs', async () => {
    const active = await e.stack.extraDaemon('active');
    await active.start();
    await waitFor('the active daemon signing-ready', active.paths.controlSocket, signingReady, 45_000);
    const standby = await e.stack.extraDaemon('standby');
    await standby.start();
    const st = await waitFor('the second daemon to report standby', standby.paths.controlSocket, (s) => s.lease?.role === 'standby', 15_000);
    expect(st.enclave ?? null).toBeNull();
    const refused = await standby.cli(['status']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toMatch(/standby/);
    const signed = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('active signs') });
    expect(signed.status).toBe('signed');

    await active.stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor('the standby to become active', standby.paths.controlSocket, (s) => s.lease?.role === 'active', LEASE_TTL * 3);
    expect(Date.now() - killedAt).toBeLessThan(LEASE_TTL * 3);
    await waitFor('the new active daemon signing-ready', standby.paths.controlSocket, signingReady, 45_000);
    const taken = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('standby took over') });
    expect(taken.status).toBe('signed');
    expect(taken.publicKey).toBe(signed.publicKey);
    expect(verifyWithStandardVerifier(taken)).toBe(true);
  }, 180_000);
});
