// Attack, with the real daemon and the real enclave process: a malicious coordinator tampers with
// a round-3 message of a threshold ECDSA session. Expected: ERR_PEER_CHEATED, the key marked
// "refresh required" in the sealed DB (list-users shows it), the mark survives an enclave restart,
// a later sign.commit with the key is refused (ERR_KEY_REFRESH_REQUIRED) without asking the
// Callback Handler, and `cosigner refresh-key` clears it: the same key signs again.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecdsaTxTestHooks } from '../../local/coordinator/ecdsa-tx-sign.ts';
import { cliJson, setUpStack, signingReady, waitForStatus, type E2eStack } from '../e2e/helpers.ts';
import { ecdsaAvailable } from '../support/ecdsa.ts';

const SCHEME = 'dkls23-secp256k1';
type Key = { keyId: string; scheme: string; groupPublicKey: string; refreshRequired?: { peer: number; check: string } | null };

// Skipped while the DKLs23 protocol is not in this build (test/support/ecdsa.ts says why).
describe.skipIf(!ecdsaAvailable)('attack: a malicious coordinator tampers with a threshold ECDSA round', () => {
  let e: E2eStack;
  let rest = '';

  beforeAll(async () => {
    e = await setUpStack({ userId: 'ecdsa-cheat' });
    rest = e.stack.coordinator!.restUrl.replace(/\/+$/, '');
    // No approval stage: every handler call from here on is a signing-stage one.
    await fetch(`${rest}/v1/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rules: [], defaultAction: 'allow' }) });
    await waitForStatus('the co-signer to be signing-ready', e, signingReady);
  }, 180_000);
  afterAll(async () => {
    delete ecdsaTxTestHooks.tamper;
    await e?.cleanup();
  }, 30_000);

  const ecdsaKey = async (): Promise<Key> => {
    const r = cliJson(await e.stack.cli(['list-users', '--json'])).result as { users: { id: string; keys: Key[] }[] };
    return r.users.find((u) => u.id === e.userId)!.keys.find((k) => k.scheme === SCHEME)!;
  };
  const sign = (s: string) => e.tx({ asset: 'ETH', amount: '1', scheme: SCHEME, payload: createHash('sha256').update(s).digest('hex') });

  it('tampered round 3 → ERR_PEER_CHEATED; the mark survives a restart; sign.commit refused before the handler; refresh-key clears it', async () => {
    const before = await ecdsaKey();
    ecdsaTxTestHooks.tamper = (round, messages) => (round === 3 ? messages.map((m) => ({ ...m, payload: Buffer.from(Buffer.from(m.payload, 'base64').map((b, i) => (i === 8 ? b ^ 0x40 : b))).toString('base64') })) : messages);
    const cheated = await sign('tampered');
    delete ecdsaTxTestHooks.tamper;
    expect(cheated.status).toBe('failed');
    expect(cheated.error?.code).toBe('ERR_PEER_CHEATED');
    expect((await ecdsaKey()).refreshRequired).toMatchObject({ peer: 2, check: expect.any(String) });

    const restart = await e.stack.cli(['restart', '--json']);
    expect(restart.code).toBe(0);
    await waitForStatus('the restarted enclave to be signing-ready', e, signingReady, 60_000);
    expect((await ecdsaKey()).refreshRequired).toMatchObject({ peer: 2 });

    const calls = e.handler.calls.length;
    const refused = await sign('while marked');
    expect(refused.error?.code).toBe('ERR_KEY_REFRESH_REQUIRED');
    expect(e.handler.calls.length).toBe(calls);
    const human = await e.stack.cli(['list-users']);
    expect(human.stdout).toContain('REFRESH REQUIRED');

    const r = await e.stack.cli(['refresh-key', e.userId, before.keyId, '--json']);
    expect(r.code).toBe(0);
    const after = await ecdsaKey();
    expect(after.refreshRequired ?? undefined).toBeUndefined(); // an unset message field is null in --json
    expect(after.groupPublicKey).toBe(before.groupPublicKey);
    const again = await sign('after refresh');
    expect(again).toMatchObject({ status: 'signed', verified: true, publicKey: before.groupPublicKey });
  }, 300_000);
});
