// End-to-end fault: the enclave process is SIGKILLed while `cosigner add-user` pairs another user
// (real daemon, real enclave child process, reference coordinator, CLI). Expected: no dead end.
// The supervisor restarts the enclave, it unseals and reconnects, and the same add-user (same
// token) finishes: pair.commit for a user it had sealed, a fresh pairing otherwise. The owner
// approves, and the user signs. Where the kill lands is a race (mid-DKG, between the sealed write
// and pair.commit, or after the commit); the test logs which step it hit and asserts the end state,
// which must be the same in every case (ERR_ALREADY_EXISTS on the retry would be a bug).
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWithStandardVerifier } from '../../local/demo.ts';
import { cliJson, setUpStack, signingReady, waitForStatus, type E2eStack } from './helpers.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('end to end: enclave killed mid-pairing', () => {
  let e: E2eStack;
  let restUrl: string;
  const enclavePid = (): number => Number(readFileSync(join(e.stack.paths.home, 'run', 'enclave.pid'), 'utf8').trim());

  /** The owner's view of a user at the coordinator: 200 committed, 409 uncommitted, 404 unknown. */
  async function ownerView(userId: string): Promise<{ status: number; code?: string }> {
    const r = await fetch(`${restUrl}/v1/users/${userId}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await r.json()) as { error?: { code?: string } };
    return { status: r.status, ...(body.error?.code ? { code: body.error.code } : {}) };
  }

  async function sealedStatus(userId: string): Promise<string | undefined> {
    const list = cliJson(await e.stack.cli(['list-users', '--json'])).result as { users: { id: string; status: string }[] };
    return list.users.find((u) => u.id === userId)?.status;
  }

  beforeAll(async () => {
    e = await setUpStack({ userId: 'first-user' });
    restUrl = e.stack.coordinator!.restUrl.replace(/\/+$/, '');
  }, 90_000);
  afterAll(async () => {
    await e?.cleanup();
  }, 30_000);

  // When to kill: as soon as the coordinator shows the pairing in flight (pair.register done, the
  // DKG running: usually lands before the sealed write), or as soon as the sealed DB on the parent
  // changed (the pending user is sealed: usually lands before pair.commit).
  const triggers = {
    'the pairing is in flight at the coordinator': async (userId: string, done: () => boolean): Promise<string> => {
      for (const deadline = Date.now() + 15_000; Date.now() < deadline && !done(); await sleep(5)) {
        const v = await ownerView(userId);
        if (v.status === 409 && v.code === 'ERR_PAIRING_UNCOMMITTED') return 'the coordinator showed the pairing uncommitted';
        if (v.status === 200) return 'the coordinator showed the user committed';
      }
      return 'nothing seen yet';
    },
    'the sealed DB is written': async (_userId: string, done: () => boolean): Promise<string> => {
      const db = join(e.stack.paths.home, 'db', 'secrets.db');
      const version = (): string => {
        try {
          const st = statSync(db);
          return `${st.ino}:${st.mtimeMs}:${st.size}`;
        } catch {
          return 'being replaced';
        }
      };
      const v0 = version();
      // No sleep between checks (only a turn of the event loop): the window before pair.commit is short.
      for (const deadline = Date.now() + 15_000; Date.now() < deadline && !done(); await new Promise((r) => setImmediate(r))) {
        if (version() !== v0) return 'the sealed DB changed on the parent';
      }
      return 'nothing seen yet';
    },
  };

  it.each(Object.keys(triggers) as (keyof typeof triggers)[])('SIGKILL of the enclave when %s: the same add-user finishes, the owner approves, the user signs', async (trigger) => {
    const userId = `user-${Object.keys(triggers).indexOf(trigger) + 2}`;
    const token = await e.pairingToken(userId);
    const addUser = () =>
      e.stack.cli(['add-user', '--json', '--yes', '--pairing-token', token, '--callback-url', e.handler.url, '--auth-mode', 'public-key', '--handler-public-key', e.handlerPem], { timeoutMs: 20_000 });
    const before = enclavePid();

    let firstDone = false;
    const first = addUser().finally(() => (firstDone = true));
    const seen = await triggers[trigger](userId, () => firstDone);
    // The enclave process our own test daemon started: killed by its pid.
    process.kill(before, 'SIGKILL');
    const killedAt = firstDone ? 'add-user had returned' : seen;
    const firstResult = await first;

    await waitForStatus('the restarted enclave to unseal and reconnect', e, (s) => signingReady(s) && enclavePid() !== before, 30_000);
    // Which step the kill hit, from what survived it: the coordinator's view and the sealed DB.
    const afterKill = await ownerView(userId);
    const sealed = await sealedStatus(userId);
    const step =
      afterKill.status === 200
        ? 'after pair.commit (committed at the coordinator)'
        : sealed
          ? 'after the sealed write, before pair.commit'
          : afterKill.status === 409
            ? 'before the sealed write (DKG or pair.summary)'
            : 'before the sealed write (pairing already dropped at the coordinator)';
    console.info(`pairing kill: killed when ${killedAt}; first add-user exit ${firstResult.code}; the kill hit ${step}; coordinator ${afterKill.status} ${afterKill.code ?? ''}; sealed ${sealed ?? 'none'}`);

    const retry = await addUser();
    // A final ERR_ALREADY_EXISTS (or any failure) here is the dead end the two-phase commit removes.
    expect(retry.code, `retry of add-user failed (kill hit ${step}): ${retry.stdout} ${retry.stderr}`).toBe(0);
    expect(await ownerView(userId)).toEqual({ status: 200 });
    expect(await sealedStatus(userId)).toBe('pending');

    const approve = await fetch(`${restUrl}/v1/users/${userId}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(30_000) });
    expect(approve.status, await approve.clone().text()).toBe(200);
    expect(await sealedStatus(userId)).toBe('active');
    const payload = createHash('sha256').update(`${userId} after the kill`).digest('hex');
    const record = await e.tx({ userId, asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload });
    expect(record.status).toBe('signed');
    expect(verifyWithStandardVerifier(record)).toBe(true);
  }, 60_000);
});
