// Attack 3: the parent restores an older secrets.db (from backup/) and restarts the enclave, hoping a
// user removed since (here: the DB from before a second pairing) signs again, and that a few
// harmless control writes raise the generation past the coordinator's mark to launder the rollback.
// Expected: the coordinator client refuses (ERR_ROLLBACK); every write is refused before anything is
// sealed, across restarts; nothing signs. A write before the coordinator stated its floor is refused.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, type RunningCoordinator } from '../../local/coordinator/server.ts';
import { startHarness, until, type Harness } from './enclave-harness.ts';

const hex = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('attack: secrets DB rollback by the parent', () => {
  let h: Harness;
  let coord: RunningCoordinator;

  beforeAll(async () => {
    h = await startHarness();
    // The harness trusts the stack's local CA for every TLS peer, the coordinator included; the
    // coordinator admits the enclaves the harness boots (the stack's dev authority and PCRs).
    coord = await startCoordinator({ tls: await h.stack.ca.issueServerCert(), attestation: h.attestation });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await coord?.close();
  });

  it('an older DB after a restart: refused, no write lands, nothing signs', async () => {
    const a = await h.boot();
    const setup = await a.cosigner.setup(h.setupInput(coord, coord.issuePairingToken('u1', 'ws')));
    const id = setup.cosignerId;
    await coord.approveUser('u1');
    const tx = { userId: 'u1', asset: 'ETH', amount: '1', destination: 'addr-1', scheme: 'frost-ed25519' };
    expect((await coord.createTransaction({ ...tx, payload: hex('before') })).status).toBe('signed');
    const before = coord.generationMark(id) as number;
    // A write that bumps the generation (user removal now needs the owner): a second pairing.
    await a.cosigner.addUser({ pairingToken: coord.issuePairingToken('u2', 'ws') });
    expect(coord.generationMark(id)).toBe(before + 1);
    await a.stop();

    // The parent serves the previous secrets.db and restarts the enclave.
    const [prev] = await h.stack.blobs.listBackups('secrets.db');
    await h.stack.blobs.restoreBackup('secrets.db', (prev as { generation: bigint }).generation);
    const dbPath = join(h.stack.home, 'db', 'secrets.db');
    const bytes = readFileSync(dbPath);
    const storeGen = (await h.stack.blobs.get('secrets.db'))?.generation;

    for (let restart = 0; restart < 2; restart++) {
      const b = await h.boot();
      await until(() => b.cosigner.status().errorCode === 'ERR_ROLLBACK');
      expect(b.cosigner.status()).toMatchObject({ state: 'unsealed', errorCode: 'ERR_ROLLBACK' });
      expect(b.cosigner.listUsers().map((u) => u.id)).toEqual(['u1']);
      // Two no-op control writes would raise the generation past the mark: refused, nothing sealed.
      for (let i = 0; i < 2; i++) await expect(b.cosigner.callbackUpdate({ userId: 'u1', callback: null })).rejects.toMatchObject({ code: 'ERR_ROLLBACK' });
      await expect(b.cosigner.addUser({ pairingToken: coord.issuePairingToken('u3', 'ws') })).rejects.toBeDefined();
      expect(readFileSync(dbPath).equals(bytes)).toBe(true);
      expect((await h.stack.blobs.get('secrets.db'))?.generation).toBe(storeGen);
      expect(coord.generationMark(id)).toBe(before + 1);
      const t = await coord.createTransaction({ ...tx, payload: hex(`after restart ${restart}`) }).catch((e: unknown) => ({ status: `error ${String(e)}` }));
      expect(t.status).not.toBe('signed');
      await b.stop();
    }
  }, 120_000);

  it('a write before the coordinator stated its floor is refused (retryable), nothing sealed', async () => {
    await coord.close();
    const c = await h.boot();
    expect(c.cosigner.status().state).toBe('unsealed');
    const dbPath = join(h.stack.home, 'db', 'secrets.db');
    const bytes = readFileSync(dbPath);
    // A control request can no longer write by itself (it only proposes, through the coordinator):
    // refused while the coordinator is away.
    const proposal = await c.cosigner.callbackUpdate({ userId: 'u1', callback: null }).catch((e: unknown) => e);
    expect(proposal).toMatchObject({ code: 'ERR_COORDINATOR_UNAVAILABLE' });
    // And the vault itself takes no write before the floor is known, whoever asks.
    const vault = c.cosigner.openVault!;
    const err = await vault.update((s) => s).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ROLLBACK_FLOOR_UNKNOWN', retryable: true });
    expect(readFileSync(dbPath).equals(bytes)).toBe(true);
    await c.stop();
  }, 60_000);
});
