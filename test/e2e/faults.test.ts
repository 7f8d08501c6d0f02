// End-to-end faults against the real daemon and enclave bundle: enclave crash, handler down,
// coordinator unreachable then back, parent daemon killed mid-signing then restarted.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDaemon } from '../../parent/control/client.ts';
import { verifyWithStandardVerifier } from '../../local/demo.ts';
import { buildIdFor } from '../../enclave/services/build-id.ts';
import { cliJson, setUpStack, signingReady, waitForStatus as waitFor, type E2eStack, type TxRecord } from './helpers.ts';

const msg = (s: string): string => createHash('sha256').update(s).digest('hex');
describe('end to end: faults', () => {
  let e: E2eStack;
  const enclavePid = (): number => Number(readFileSync(join(e.stack.paths.home, 'run', 'enclave.pid'), 'utf8').trim());

  beforeAll(async () => {
    e = await setUpStack({ coordinatorLink: true, userId: 'fault-user' });
  }, 90_000);
  afterAll(async () => {
    await e?.cleanup();
  }, 30_000);

  it('enclave crash: the daemon restarts it, it unseals the sealed DB and signs again', async () => {
    const before = enclavePid();
    // The enclave process our own test daemon started: killed by its pid.
    process.kill(before, 'SIGKILL');
    await waitFor('the restarted enclave to unseal and reconnect', e, (s) => signingReady(s) && enclavePid() !== before);
    const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('after crash') });
    expect(tx.status).toBe('signed');
    expect(verifyWithStandardVerifier(tx)).toBe(true);
    const users = cliJson(await e.stack.cli(['list-users', '--json'])).result as { users: { id: string; status: string }[] };
    expect(users.users).toEqual([expect.objectContaining({ id: e.userId, status: 'active' })]);
  });

  it('handler down: no signature; a new handler, approved by the workspace owner, restores signing', async () => {
    const old = e.handler;
    await old.close();
    const down = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('handler down') });
    expect(down.status).not.toBe('signed');
    expect(down.signature).toBeUndefined();

    const pk = cliJson(await e.stack.cli(['print-public-key', '--json'])).result as { publicKeyPem: string };
    const fresh = (await e.stack.startHandler({ cosignerPublicKeyPem: pk.publicKeyPem, rules: { maxAmountPerAsset: { ETH: '10' } } }))!;
    const pem = join(e.stack.dir, 'handler2.pem');
    writeFileSync(pem, fresh.publicKeyPem);
    // The operator (the parent's side) can only propose the new handler: nothing changes yet.
    const proposed = await e.stack.cli(['callback-update', e.userId, '--json', '--callback-url', fresh.url, '--auth-mode', 'public-key', '--handler-public-key', pem]);
    expect(proposed.code).toBe(0);
    const pending = (cliJson(proposed).result as { pending: { changeId: string } }).pending;
    expect(pending.changeId).toMatch(/\S/);
    const stillOld = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('not yet approved') });
    expect(stillOld.status).not.toBe('signed');
    // The workspace owner approves at the coordinator (its owner key signs; the enclave verifies).
    const decided = await e.stack.coordinator!.decideChange(pending.changeId, 'approve');
    expect(decided.applied).toBe(true);
    const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-secp256k1-tr', payload: msg('new handler') });
    expect(tx.status).toBe('signed');
    expect(verifyWithStandardVerifier(tx)).toBe(true);
  });

  it('coordinator unreachable then back: status shows it, signing resumes after the reconnect', async () => {
    const link = e.stack.coordinatorLink!;
    link.cut();
    try {
      // Restart the enclave while the coordinator cannot be reached: it unseals, then keeps
      // redialling with backoff (relay connection refused) and says so in `status`.
      process.kill(enclavePid(), 'SIGKILL');
      await waitFor('the restarted enclave to report the coordinator unreachable', e, (s) => s.enclave?.state === 'unsealed' && s.enclave?.coordinator !== 'connected', 30_000);
      const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('no coordinator link') });
      expect(tx.status).not.toBe('signed');
      expect(tx.signature).toBeUndefined();
    } finally {
      link.restore();
    }
    await waitFor('the enclave to reconnect to the coordinator', e, signingReady, 30_000);
    const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('coordinator back') });
    expect(tx.status).toBe('signed');
    expect(verifyWithStandardVerifier(tx)).toBe(true);
  });

  // The relayed TCP connection to the coordinator is cut while established: the tunnel reports the
  // end of stream, and the coordinator client must take it as the end of the connection.
  it('coordinator link dropped while connected: the enclave notices and reconnects', async () => {
    const link = e.stack.coordinatorLink!;
    link.cut();
    try {
      await waitFor('the enclave to notice the coordinator is gone', e, (s) => s.enclave?.coordinator !== 'connected', 15_000);
    } finally {
      link.restore();
    }
    await waitFor('the enclave to reconnect', e, signingReady, 30_000);
  });

  it('parent killed mid-signing then restarted: no lost and no duplicated signature', async () => {
    e.handler.faults.delayMs = 1_500;
    const payload = msg('parent killed');
    let inFlight: Promise<TxRecord>;
    try {
      inFlight = e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload });
      await new Promise((r) => setTimeout(r, 500));
      await e.stack.killDaemon('SIGKILL');
    } finally {
      e.handler.faults.delayMs = 0;
    }
    const first = await inFlight;
    // Either it completed before the kill (one valid signature) or it failed (none): never half.
    if (first.status === 'signed') expect(verifyWithStandardVerifier(first)).toBe(true);
    else expect(first.signature).toBeUndefined();

    await e.stack.startDaemon();
    await waitFor('the new daemon to restart the enclave, unseal and reconnect', e, signingReady, 45_000);
    const again = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload });
    expect(again.status).toBe('signed');
    expect(verifyWithStandardVerifier(again)).toBe(true);
    expect(again.id).not.toBe(first.id);
    const st = cliJson(await e.stack.cli(['status', '--json'])).result as { enclave: { openSessions: number; users: number } };
    // Sessions of the killed enclave are gone (nonces were memory-only); the user survived.
    expect(st.enclave.openSessions).toBe(0);
    expect(st.enclave.users).toBe(1);
  });
  // Last: it leaves the co-signer sealed.
  it('a changed enclave bundle (new PCR0) is refused by KMS: status access-denied, nothing overwritten', async () => {
    const st = await (callDaemon(e.stack.paths.controlSocket, 'status', {}) as Promise<{ supervisor?: { image?: string } }>);
    const bundle = st.supervisor?.image;
    expect(bundle).toBeTruthy();
    const dbBefore = readFileSync(join(e.stack.paths.home, 'db', 'secrets.db'));
    const keyBefore = readFileSync(join(e.stack.paths.home, 'db', 'secrets.key'));
    // A different image: one more byte in the bundle changes its measurement. The sidecar build id is
    // updated too, so the parent still accepts the handshake and only KMS stands in the way.
    const changed = Buffer.concat([readFileSync(bundle!), Buffer.from('\n// not the measured image\n')]);
    writeFileSync(bundle!, changed);
    writeFileSync(bundle!.replace(/\.mjs$/, '.json'), JSON.stringify({ mode: 'dev', buildId: buildIdFor(changed) }));
    process.kill(enclavePid(), 'SIGKILL');
    const s = await waitFor('the new image to be refused by KMS', e, (x) => x.wire?.connected === true && x.enclave?.state === 'access-denied', 45_000);
    expect((s.enclave as { errorCode?: string }).errorCode).toBe('ERR_KMS_ACCESS_DENIED');
    const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('wrong image') });
    expect(tx.status).not.toBe('signed');
    const list = await e.stack.cli(['list-users', '--json']);
    expect(JSON.stringify(cliJson(list))).toContain('ERR_SEALED');
    expect(readFileSync(join(e.stack.paths.home, 'db', 'secrets.db')).equals(dbBefore)).toBe(true);
    expect(readFileSync(join(e.stack.paths.home, 'db', 'secrets.key')).equals(keyBefore)).toBe(true);
  });
});
