import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../../parent/control/client.ts';
import type { RunningDaemon } from '../../../parent/daemon/daemon.ts';
import { readImageState } from '../../../parent/daemon/image-state.ts';
import { fakeEnclaveBundle, startTestDaemon, tempDir } from './helpers.ts';

let daemon: RunningDaemon | null = null;
let client: ControlClient | null = null;
afterEach(async () => {
  client?.close();
  client = null;
  await daemon?.close();
  daemon = null;
});

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Status = { supervisor: { state: string; restarts: number; image: string }; wire: { connected: boolean }; enclave: { state: string } | null };

const measurements = JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: 'a'.repeat(96), PCR1: 'b'.repeat(96), PCR2: 'c'.repeat(96) } });

describe('cosigner-parent daemon (local mode, fake enclave)', () => {
  it('starts the enclave, forwards control requests, stores enclave logs and serves metrics', async () => {
    daemon = await startTestDaemon();
    expect(statSync(daemon.controlSocketPath).mode & 0o777).toBe(0o600);
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', async () => (await (client!.request('status') as Promise<Status>)).wire.connected);
    const st = await (client.request('status') as Promise<Status>);
    expect(st.supervisor.state).toBe('running');
    expect(st.enclave?.state).toBe('not-set-up');

    const setup = await (client.request('setup', { kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234', region: 'us-east-1' }) as Promise<{ cosignerId: string }>);
    expect(setup.cosignerId).toBe('cs-fake');
    // The enclave's blob went to COSIGNER_HOME/db through the wire.
    expect(existsSync(join(daemon.config.home, 'db', 'secrets.key'))).toBe(true);
    const added = await (client.request('addUser', { pairingToken: 'tok-1' }) as Promise<{ user: { id: string } }>);
    expect((await (client.request('listUsers') as Promise<{ users: Array<{ id: string }> }>)).users.map((u) => u.id)).toEqual([added.user.id]);
    await expect(client.request('addUser', { pairingToken: 'expired' })).rejects.toMatchObject({ code: 'ERR_PAIRING_TOKEN_EXPIRED' });
    const att = await (client.request('getAttestation', { nonce: '0102ff' }) as Promise<{ document: string }>);
    expect(Buffer.from(att.document, 'base64').toString('hex')).toBe('840102ff');

    const logs = await (client.request('logs', { n: 200 }) as Promise<{ lines: string[] }>);
    const enclaveLines = logs.lines.map((l) => JSON.parse(l) as { src: string; msg: string }).filter((r) => r.src === 'enclave');
    expect(enclaveLines.map((r) => r.msg)).toContain('fake enclave ready');
    expect(logs.lines.join('\n')).not.toContain('secret-canary-123');
    expect(logs.lines.join('\n')).not.toContain('tok-1');

    const metrics = await (await fetch(`${daemon.metricsUrl}/metrics`)).text();
    expect(metrics).toContain('cosigner_enclave_state{state="running"} 1');
    expect(metrics).toContain('cosigner_wire_connected 1');
    expect(metrics).toMatch(/cosigner_requests_total\{method="setup",outcome="ok"\} 1/);
    expect(metrics).toMatch(/cosigner_requests_total\{method="addUser",outcome="ERR_PAIRING_TOKEN_EXPIRED"\} 1/);
    expect(metrics).toContain('cosigner_approvals_total{action="APPROVE"} 0');
    expect(metrics).toContain('cosigner_request_duration_seconds_bucket{le="+Inf",method="setup"} 1');
    const health = await fetch(`${daemon.metricsUrl}/healthz`);
    expect(health.status).toBe(200);
  });

  it('restarts a crashed enclave, reconnects and the enclave unseals again', async () => {
    daemon = await startTestDaemon();
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', async () => (await (client!.request('status') as Promise<Status>)).wire.connected);
    await client.request('setup', { kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234', region: 'us-east-1' });
    const pid = Number(daemon.supervisor.status().info.pid);
    process.kill(pid, 'SIGKILL');
    await until('restart', () => daemon!.supervisor.status().restarts >= 1);
    await until('unsealed after restart', async () => (await (client!.request('status') as Promise<Status>)).enclave?.state === 'unsealed');
    expect(Number(daemon.supervisor.status().info.pid)).not.toBe(pid);
  });

  it('stop/start from the control socket, and ERR_ENCLAVE_NOT_RUNNING while stopped', async () => {
    daemon = await startTestDaemon();
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', () => daemon!.link.connected);
    expect((await (client.request('stop') as Promise<{ state: string }>)).state).toBe('stopped');
    await expect(client.request('listUsers')).rejects.toMatchObject({ code: 'ERR_ENCLAVE_NOT_RUNNING' });
    expect((await (client.request('start') as Promise<{ state: string }>)).state).toBe('running');
    await until('wire connection', () => daemon!.link.connected);
    expect((await (client.request('listUsers') as Promise<{ users: unknown[] }>)).users).toEqual([]);
  });

  it('refuses an enclave whose handshake build id differs from the bundle\'s sidecar', async () => {
    const bundle = await fakeEnclaveBundle();
    const dir = tempDir('cosd-build-');
    const wrapper = join(dir, 'enclave-dev.mjs');
    writeFileSync(wrapper, `await import(${JSON.stringify(bundle)});\n`);
    writeFileSync(join(dir, 'enclave-dev.json'), JSON.stringify({ buildId: 'nitro-cosigner-0123456789abcdef' }));
    daemon = await startTestDaemon({ bundlePath: wrapper });
    await until('a refused handshake', () => daemon!.link.status().lastError?.code === 'ERR_BUILD_MISMATCH');
    expect(daemon.link.connected).toBe(false);
    client = await ControlClient.connect(daemon.controlSocketPath);
    await expect(client.request('listUsers')).rejects.toMatchObject({ code: 'ERR_ENCLAVE_NOT_RUNNING' });
  });

  it('answers ERR_BUSY past the queue limit', async () => {
    daemon = await startTestDaemon({ queueLimit: 1, maxConcurrent: 1 }, { enclaveEnv: { ...process.env, FAKE_ENCLAVE_SLOW_MS: '400' } });
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', () => daemon!.link.connected);
    const slow = client.request('setup', { kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234', region: 'us-east-1' });
    await expect(client.request('listUsers')).rejects.toMatchObject({ code: 'ERR_BUSY' });
    await slow;
    expect((await daemon.metrics.busyRejections.get()).values[0]?.value).toBe(1);
  });

  it('upgrade: rolls back when the new image cannot unseal, switches when it can, keeps the old image', async () => {
    daemon = await startTestDaemon();
    client = await ControlClient.connect(daemon.controlSocketPath);
    await until('wire connection', () => daemon!.link.connected);
    await client.request('setup', { kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/abcd-1234', region: 'us-east-1' });
    const FAKE_ENCLAVE = await fakeEnclaveBundle();
    const dir = dirname(daemon.config.home);
    const mfile = join(dir, 'new.json');
    writeFileSync(mfile, measurements);
    // Same fake enclave under other names: "locked" in the name makes it report access-denied.
    const locked = join(dir, 'enclave-locked.mjs');
    const good = join(dir, 'enclave-v2.mjs');
    for (const f of [locked, good]) writeFileSync(f, `await import(${JSON.stringify(FAKE_ENCLAVE)});\n`);

    await expect(client.request('upgrade', { eifPath: good, measurementsPath: mfile, policyChecked: false })).rejects.toMatchObject({ code: 'ERR_UPGRADE_REFUSED' });
    expect(daemon.supervisor.image).toBe(FAKE_ENCLAVE);

    const err = await client.request('upgrade', { eifPath: locked, measurementsPath: mfile, policyChecked: true, timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_UPGRADE_ROLLED_BACK' });
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({ newState: 'access-denied', rolledBackState: 'unsealed' });
    expect(daemon.supervisor.image).toBe(FAKE_ENCLAVE);
    expect(await readImageState(daemon.config.home)).toBeNull();

    const ok = await (client.request('upgrade', { eifPath: good, measurementsPath: mfile, policyChecked: true, timeoutMs: 20_000 }) as Promise<{ state: string; previous: string }>);
    expect(ok).toMatchObject({ state: 'unsealed', previous: FAKE_ENCLAVE });
    expect(daemon.supervisor.image).toBe(good);
    expect(existsSync(FAKE_ENCLAVE)).toBe(true);
    expect((await readImageState(daemon.config.home))?.previous).toBe(FAKE_ENCLAVE);
    expect(JSON.parse(readFileSync(join(daemon.config.home, 'image.json'), 'utf8')).current).toBe(good);
  });
});
