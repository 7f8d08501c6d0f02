// End to end: the local stack stopped and started again on the same dir, without --fresh. The
// stand-ins come back on the ports the enclave sealed at setup and with their state (KMS key and
// policy, the coordinator's users and its own key shares, the handler's key), the enclave unseals the
// sealed DB, and the user paired before the restart signs again with the same group key, without
// pairing again (its sealed state in the S3 stand-in's bucket, the stack's default). --fresh still
// wipes it all.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { verifyWithStandardVerifier } from '../../local/demo.ts';
import { setUpStack, signingReady, waitForStatus, type E2eStack } from './helpers.ts';

const msg = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('end to end: the local stack restarts without --fresh', () => {
  let e: E2eStack;
  let again: LocalStack | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    // S3 storage, the stack's default: the restart below starts the stack as `make demo` does.
    e = await setUpStack({ userId: 'restart-user', storage: 's3' });
  }, 90_000);
  afterAll(async () => {
    await again?.close();
    await e?.cleanup();
  }, 30_000);

  it('a restarted stack reloads its state and the same user signs again with the same key', async () => {
    await waitForStatus('the co-signer to be signing-ready', e, signingReady);
    const before = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('before restart') });
    expect(before.status).toBe('signed');
    const first = e.stack;
    const { bundlePath } = JSON.parse(readFileSync(first.paths.daemonConfig, 'utf8')) as { bundlePath: string };
    // The coordinator's own secret shares are on disk, readable by the owner only.
    expect(statSync(join(first.dir, 'coordinator', 'coordinator-state.json')).mode & 0o777).toBe(0o600);
    await first.close();

    again = await startLocalStack({
      dir: first.dir,
      bundlePath,
      measurementsPath: join(dirname(bundlePath), 'measurements-dev.json'),
      callback: { timeoutMs: 1_000, retryIntervalMs: 30_000, retryTotalMs: 120_000, clockSpeedup: 200 },
      log: (l) => void lines.push(l),
    });
    // Same addresses as sealed at setup; the handler is back with the key the co-signer sealed.
    expect(again.kms!.url).toBe(first.kms!.url);
    expect(again.kms!.keyArn).toBe(first.kms!.keyArn);
    expect(again.coordinatorEndpoint).toBe(first.coordinatorEndpoint);
    expect(again.coordinator!.restUrl).toBe(first.coordinator!.restUrl);
    expect(again.coordinator!.publicKeyPem).toBe(first.coordinator!.publicKeyPem);
    expect(again.handler?.url).toBe(e.handler.url);
    expect(again.handler?.publicKeyPem).toBe(e.handler.publicKeyPem);

    await waitForStatus('the restarted enclave to unseal and reach the coordinator', e, signingReady, 45_000);
    const after = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('after restart') });
    expect(after.status).toBe('signed');
    expect(after.publicKey).toBe(before.publicKey);
    expect(verifyWithStandardVerifier(after)).toBe(true);
    const taproot = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-secp256k1-tr', payload: msg('taproot after restart') });
    expect(taproot.status).toBe('signed');
    expect(verifyWithStandardVerifier(taproot)).toBe(true);
    // No second pairing: still the one user, active, at the coordinator.
    const users = (await (await fetch(`${again.coordinator!.restUrl}/v1/users`)).json()) as { users: { id: string; status: string }[] };
    expect(users.users).toEqual([expect.objectContaining({ id: e.userId, status: 'active' })]);
  }, 120_000);

  it('--fresh still wipes the dir: a new KMS key, a coordinator with no users', async () => {
    const dir = e.stack.dir;
    const keyArn = again!.kms!.keyArn;
    await again!.close();
    again = undefined;
    const { bundlePath } = JSON.parse(readFileSync(join(dir, 'daemon.json'), 'utf8')) as { bundlePath: string };
    again = await startLocalStack({ dir, fresh: true, daemon: false, bundlePath, measurementsPath: join(dirname(bundlePath), 'measurements-dev.json'), log: () => undefined });
    expect(again.kms!.keyArn).not.toBe(keyArn);
    expect(again.handler).toBeUndefined();
    expect(existsSync(join(dir, 'coordinator', 'coordinator-state.json'))).toBe(false);
    expect(existsSync(join(dir, 'home', 'db'))).toBe(false);
    const users = (await (await fetch(`${again.coordinator!.restUrl}/v1/users`)).json()) as { users: unknown[] };
    expect(users.users).toEqual([]);
  }, 60_000);
});
