// End to end with the real daemon and the real enclave process (development bundle): pairing gives
// the API user a threshold ECDSA (dkls23-secp256k1) key besides the FROST ones; the coordinator's
// REST API signs a 32-byte digest at the root and at m/44/60/0/0/0; each signature verifies with
// noble and node:crypto (DER), is low-S, and recovers the derived key, which is the BIP-32 child of
// the group key; `cosigner refresh-key` keeps the key and it signs again.
import { createHash } from 'node:crypto';
import { HDKey } from '@scure/bip32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, setUpStack, signingReady, waitForStatus, type E2eStack } from './helpers.ts';
import { ecdsaAvailable, ecdsaChecks } from '../support/ecdsa.ts';

const SCHEME = 'dkls23-secp256k1';
const digestHex = (s: string): string => createHash('sha256').update(s).digest('hex');

// Skipped while the DKLs23 protocol is not in this build (test/support/ecdsa.ts says why).
describe.skipIf(!ecdsaAvailable)('end to end: threshold ECDSA through the daemon and the enclave process', () => {
  let e: E2eStack;
  let rest = '';
  let key: { keyId: string; groupPublicKey: string } = { keyId: '', groupPublicKey: '' };

  beforeAll(async () => {
    e = await setUpStack({ userId: 'ecdsa-user' });
    rest = e.stack.coordinator!.restUrl.replace(/\/+$/, '');
    await waitForStatus('the co-signer to be signing-ready', e, signingReady);
  }, 180_000);
  afterAll(async () => {
    await e?.cleanup();
  }, 30_000);

  const sign = async (preimage: string, path = '[ ]'): Promise<Record<string, any>> => {
    const payload = digestHex(preimage);
    const r = await fetch(`${rest}/v1/transactions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(120_000),
      body: JSON.stringify({ userId: e.userId, scheme: SCHEME, asset: 'ETH', amountStr: '1', destAddress: '0xabc', rawTx: [{ keyDerivationPath: path, format: 'raw', rawTx: payload, payload }] }),
    });
    return (await r.json()) as Record<string, any>;
  };

  it('pairing made an ECDSA key (list-users)', async () => {
    const users = cliJson(await e.stack.cli(['list-users', '--json'])).result as { users: { id: string; keys: { keyId: string; scheme: string; groupPublicKey: string }[] }[] };
    const k = users.users.find((u) => u.id === e.userId)?.keys.find((x) => x.scheme === SCHEME);
    expect(k?.groupPublicKey).toMatch(/^0[23][0-9a-f]{64}$/);
    key = k!;
  });

  it('signs at the root and at m/44/60/0/0/0; noble, node:crypto and recovery agree; the derived key is BIP-32', async () => {
    const root = await sign('ecdsa root');
    expect(root).toMatchObject({ status: 'signed', verified: true, publicKey: key.groupPublicKey });
    expect(ecdsaChecks(root.entries[0].publicKey, Buffer.from('ecdsa root'), root.entries[0].signature, root.entries[0].recovery)).toEqual({ noble: true, node: true, recovered: true, lowS: true });
    const derived = await sign('ecdsa derived', '[ 44, 60, 0, 0, 0 ]');
    expect(derived).toMatchObject({ status: 'signed', verified: true });
    expect(ecdsaChecks(derived.entries[0].publicKey, Buffer.from('ecdsa derived'), derived.entries[0].signature, derived.entries[0].recovery)).toEqual({ noble: true, node: true, recovered: true, lowS: true });
    const shown = (await (await fetch(`${rest}/v1/users/${e.userId}`)).json()) as { pairing: { summary: { keys: { keyId: string; chainCode: string }[] } } };
    const chainCode = shown.pairing.summary.keys.find((k) => k.keyId === key.keyId)!.chainCode;
    const child = new HDKey({ publicKey: Buffer.from(key.groupPublicKey, 'hex'), chainCode: Buffer.from(chainCode, 'hex') }).derive('m/44/60/0/0/0');
    expect(derived.entries[0].publicKey).toBe(Buffer.from(child.publicKey as Uint8Array).toString('hex'));
  }, 120_000);

  it('refresh-key keeps the key; it signs again', async () => {
    const r = await e.stack.cli(['refresh-key', e.userId, key.keyId, '--json']);
    expect(r.code).toBe(0);
    expect(cliJson(r).result).toMatchObject({ userId: e.userId, key: { keyId: key.keyId, groupPublicKey: key.groupPublicKey } });
    const again = await sign('ecdsa after refresh');
    expect(again).toMatchObject({ status: 'signed', verified: true, publicKey: key.groupPublicKey });
  }, 180_000);
});
