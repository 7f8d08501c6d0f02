// The `make demo` flow as a test: real daemon, real enclave bundle, real CLI, stand-ins on loopback;
// then a full disk under the daemon's blob store.
import { createHash, createPublicKey } from 'node:crypto';
import fsp from 'node:fs/promises';
import { FileBlobStore, type StoreFs } from '../../parent/storage/file-blob-store.ts';
import { callDaemon } from '../../parent/control/client.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DevAuthority } from '../../enclave/dev/dev-authority.ts';
import { parseIdentityUserData, spkiSha256 } from '../../proto/attestation/identity.ts';
import { ownerKeyFingerprint } from '../../proto/coordinator/owner-approval.ts';
import { verifyAttestation } from '../../proto/attestation/verify.ts';
import { PROTOCOL_VERSION } from '../../proto/runtime/schema.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWithStandardVerifier } from '../../local/demo.ts';
import { DEMO_RECIPIENTS, verifyBitcoinTransfer, type TransferTx, type VaultAddress } from '../../local/demo-transfers.ts';
import { cliJson, setUpStack, type E2eStack } from './helpers.ts';

const msg = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A file system that says ENOSPC to every new write while `full.value` is set. */
function fullableFs(): { fs: StoreFs; full: { value: boolean } } {
  const full = { value: false };
  const fs: StoreFs = {
    ...fsp,
    open: (async (path: Parameters<typeof fsp.open>[0], flags?: Parameters<typeof fsp.open>[1], mode?: Parameters<typeof fsp.open>[2]) => {
      if (full.value && typeof flags === 'string' && /[wa]/.test(flags)) {
        throw Object.assign(new Error(`ENOSPC: no space left on device, open '${String(path)}'`), { code: 'ENOSPC', errno: -28 });
      }
      return fsp.open(path, flags, mode);
    }) as typeof fsp.open,
  };
  return { fs, full };
}

describe('end to end: the demo flow', () => {
  const disk = fullableFs();
  let e: E2eStack;
  beforeAll(async () => {
    // The daemon runs in this process (same code as bin/cosigner-parent.mjs) so that its blob store's
    // file system can be made to report a full disk in the last test.
    e = await setUpStack({ inProcessDaemon: { blobs: (home) => FileBlobStore.open(home, { fs: disk.fs }) } });
  }, 90_000);
  afterAll(async () => {
    await e?.cleanup();
  }, 30_000);

  it('lists the paired user as active with every default scheme, and no secret', async () => {
    const r = await e.stack.cli(['list-users', '--json']);
    expect(r.code).toBe(0);
    const users = (cliJson(r).result as { users: { id: string; status: string; keys: { scheme: string }[] }[] }).users;
    expect(users.map((u) => [u.id, u.status])).toEqual([[e.userId, 'active']]);
    expect(users[0]!.keys.map((k) => k.scheme).sort()).toEqual(['dkls23-secp256k1', 'frost-ed25519', 'frost-secp256k1-tr']);
    expect(r.stdout).not.toMatch(/secretShare|approvalKey|Pkcs8/);
  });

  it('signs an approved transaction with each scheme; standard verifiers accept the signatures', async () => {
    for (const scheme of ['frost-ed25519', 'frost-secp256k1-tr']) {
      const tx = await e.tx({ asset: 'ETH', amount: '1', scheme, payload: msg(`approved ${scheme}`) });
      expect(tx.status).toBe('signed');
      expect(verifyWithStandardVerifier(tx)).toBe(true);
      // and the verifier does reject a different message
      expect(verifyWithStandardVerifier({ ...tx, payload: msg('another message') })).toBe(false);
    }
  });

  it('transfers from derived addresses: signed when honest, rejected by the sample handler when the transaction pays someone else', async () => {
    const restUrl = e.stack.coordinator!.restUrl.replace(/\/+$/, '');
    const post = async (path: string, body: unknown): Promise<TransferTx> => (await (await fetch(`${restUrl}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json()) as TransferTx;
    const from = (await (await fetch(`${restUrl}/v1/users/${e.userId}/addresses?asset=BTC_TEST&vault=0`)).json()) as VaultAddress;
    const ok = await post('/v1/transfers', { userId: e.userId, asset: 'BTC_TEST', vault: 0, to: DEMO_RECIPIENTS.BTC_TEST, amount: '0.001' });
    expect(ok.status).toBe('signed');
    expect(verifyBitcoinTransfer(ok, from).ok).toBe(true);
    const bad = await post('/v1/transfers', { userId: e.userId, asset: 'SOL_TEST', vault: 0, to: DEMO_RECIPIENTS.SOL_TEST, amount: '0.001', tamper: 'destination' });
    expect(bad.status).toBe('rejected');
    expect(bad.signedTx).toBeUndefined();
  });

  it('a handler REJECT means no signature', async () => {
    const tx = await e.tx({ asset: 'ETH', amount: '11', scheme: 'frost-ed25519', payload: msg('too much') });
    expect(tx.status).toBe('rejected');
    expect(tx.signature).toBeUndefined();
    expect(e.handler.calls.some((c) => c.action === 'REJECT')).toBe(true);
  });

  it('RETRY then APPROVE signs', async () => {
    e.handler.rules = { maxAmountPerAsset: { ETH: '10' }, retryFirstN: 1 };
    try {
      const tx = await e.tx({ asset: 'ETH', amount: '2', scheme: 'frost-secp256k1-tr', payload: msg('retry') });
      expect(tx.status).toBe('signed');
      expect(verifyWithStandardVerifier(tx)).toBe(true);
      expect(e.handler.calls.some((c) => c.action === 'RETRY')).toBe(true);
    } finally {
      e.handler.rules = { maxAmountPerAsset: { ETH: '10' } };
    }
  });

  it('a handler that never answers means no signature', async () => {
    e.handler.faults.neverAnswer = true;
    try {
      const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('silence') });
      expect(tx.status).not.toBe('signed');
      expect(tx.signature).toBeUndefined();
    } finally {
      e.handler.faults.neverAnswer = false;
    }
  });

  it('status shows an unsealed enclave connected to the coordinator; logs hold the decisions', async () => {
    const st = cliJson(await e.stack.cli(['status', '--json'])).result as { enclave: { state: string; coordinator: string; users: number; attestationMode: string } };
    expect(st.enclave).toMatchObject({ state: 'unsealed', coordinator: 'connected', users: 1, attestationMode: 'dev' });
    const logs = await e.stack.cli(['logs', '--json', '-n', '200']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('callback.decision');
    expect(logs.stdout).not.toMatch(/BEGIN PRIVATE KEY|secretShare"\s*:\s*"[0-9a-f]/);
  });

  it('a second setup is refused and nothing is overwritten', async () => {
    const ownerPem = join(e.stack.dir, 'owner-again.pem');
    writeFileSync(ownerPem, e.stack.coordinator!.ownerPublicKeyPem);
    const coordPem = join(e.stack.dir, 'coordinator-again.pem');
    writeFileSync(coordPem, e.stack.coordinator!.publicKeyPem);
    const r = await e.stack.cli([
      'setup', '--json', '--yes', '--kms-key-arn', e.stack.kms!.keyArn, '--region', e.stack.kms!.region, '--kms-endpoint', e.stack.kms!.url,
      '--coordinator-url', e.stack.coordinatorEndpoint ?? e.stack.coordinator!.cosignerUrl, '--coordinator-public-key', coordPem, '--owner-public-key', ownerPem,
    ]);
    expect(r.code).not.toBe(0);
    expect(JSON.stringify(cliJson(r))).toMatch(/ERR_ALREADY_SET_UP/);
    const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('still works') });
    expect(tx.status).toBe('signed');
  });
  it('attestation: the document verifies against the dev root, binds the nonce, the identity key and the measured bundle', async () => {
    const nonce = 'a1'.repeat(16);
    const out = join(e.stack.dir, 'attestation.cbor');
    const r = await e.stack.cli(['attestation', '--json', '--nonce', nonce, '--out', out]);
    expect(r.code).toBe(0);
    const doc = new Uint8Array(readFileSync(out));
    const root = (await DevAuthority.loadOrCreate(e.stack.paths.devCa)).rootPem;
    const measurements = JSON.parse(readFileSync(join(dirname(String((cliJson(await e.stack.cli(['status', '--json'])).result as { supervisor: { image: string } }).supervisor.image)), 'measurements-dev.json'), 'utf8')) as { Measurements: { PCR0: string } };
    const v = verifyAttestation(doc, { roots: [{ pem: root }], nonce: Buffer.from(nonce, 'hex'), maxAgeMs: 60_000, expectPcrs: { 0: measurements.Measurements.PCR0 } });
    const pk = cliJson(await e.stack.cli(['print-public-key', '--json'])).result as { publicKeyPem: string };
    const st = cliJson(await e.stack.cli(['status', '--json'])).result as { enclave: { buildId: string; kmsPolicy: string } };
    const spki = new Uint8Array(createPublicKey(pk.publicKeyPem).export({ format: 'der', type: 'spki' }));
    // The generated key policy lets its administrator change it: the identity binds that.
    expect(st.enclave.kmsPolicy).toBe('changeable');
    const coord = e.stack.coordinator;
    if (!coord) throw new Error('the demo stack runs a coordinator');
    expect(parseIdentityUserData(v.userData)).toMatchObject({
      callbackSigningKeySha256: spkiSha256(spki),
      coordinatorKeySha256: spkiSha256(new Uint8Array(createPublicKey(coord.publicKeyPem).export({ format: 'der', type: 'spki' }))),
      ownerKeyFingerprint: ownerKeyFingerprint(coord.ownerPublicKeyPem),
      protocolVersion: PROTOCOL_VERSION,
      buildId: st.enclave.buildId,
      kmsPolicyChangeable: true,
    });
    // and it is not an AWS document, nor one for another nonce
    expect(() => verifyAttestation(doc, { nonce: Buffer.from(nonce, 'hex') })).toThrow();
    expect(() => verifyAttestation(doc, { roots: [{ pem: root }], nonce: Buffer.from('b2'.repeat(16), 'hex') })).toThrow();
  });
  // Blob store disk full: a clear ERR_DISK_FULL, the sealed DB untouched, signing goes on.
  it('pairing fails with ERR_DISK_FULL, the sealed DB is untouched, signing goes on; with space again it works', async () => {
    const db = join(e.stack.paths.home, 'db', 'secrets.db');
    const before = readFileSync(db);
    disk.full.value = true;
    try {
      const r = await e.stack.cli(['add-user', '--json', '--yes', '--pairing-token', await e.pairingToken('disk-user-2')]);
      expect(r.code).not.toBe(0);
      expect((cliJson(r).error as { code: string }).code).toBe('ERR_DISK_FULL');
      expect(readFileSync(db).equals(before)).toBe(true);
      const users = (cliJson(await e.stack.cli(['list-users', '--json'])).result as { users: { id: string }[] }).users;
      expect(users.map((u) => u.id)).toEqual([e.userId]);
      const st = await (callDaemon(e.stack.paths.controlSocket, 'status', {}) as Promise<{ enclave: { state: string } }>);
      expect(st.enclave.state).toBe('unsealed');
      const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: 'frost-ed25519', payload: msg('disk full') });
      expect(tx.status).toBe('signed');
      expect(verifyWithStandardVerifier(tx)).toBe(true);
    } finally {
      disk.full.value = false;
    }
    const ok = await e.stack.cli(['add-user', '--json', '--yes', '--pairing-token', await e.pairingToken('disk-user-3')]);
    expect(ok.code).toBe(0);
    const users = (cliJson(await e.stack.cli(['list-users', '--json'])).result as { users: { id: string }[] }).users;
    expect(users.map((u) => u.id).sort()).toEqual([e.userId, 'disk-user-3'].sort());
  });
});
