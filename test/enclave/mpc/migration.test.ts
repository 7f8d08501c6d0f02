// Sealed DBs from before derivation: key share records without a chain code still unseal and sign
// with their root key (and only it); chain-coded records derive; a malformed chain code is a
// corrupt DB, refused when the DB is opened.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { deriveDbKey, openDb, sealDb } from '../../../enclave/vault/sealed-db.ts';
import { deriveKeyShare } from '../../../enclave/mpc/derivation.ts';
import { verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import type { KeyShareRecord, SecretsState } from '../../../enclave/vault/records.ts';
import { rejects, runDkg, sign } from './helpers.ts';

const dbKey = deriveDbKey(randomBytes(32), 'secrets.db');
const msg = new TextEncoder().encode('after the upgrade');

function stateWith(keyShares: readonly unknown[]): SecretsState {
  return {
    formatVersion: 1,
    identity: { cosignerId: 'migration', callbackSigningKeyPkcs8: '00', coordinatorAuthKeyPkcs8: '00' },
    coordinator: { url: 'https://coordinator.example', publicKeyPem: 'x' },
    kms: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/x', region: 'us-east-1' },
    users: [{ id: 'u', workspace: 'w', createdAt: 0, status: 'active', approvalKeyPkcs8: '00', keyShares: keyShares as KeyShareRecord[] }],
  };
}

const reopen = (shares: readonly unknown[]): KeyShareRecord[] => [...openDb(dbKey, 'secrets.db', sealDb(dbKey, 'secrets.db', 1n, 1n, stateWith(shares))).state.users[0]!.keyShares];

describe.each(['frost-ed25519', 'frost-secp256k1-tr'] as const)('sealed %s key shares across the upgrade', (scheme) => {
  const fresh = runDkg(scheme, 2, [1, 2]);

  it('a record without a chain code unseals, signs at the root and refuses a path', () => {
    const legacy = fresh.map(({ chainCode: _c, ...k }) => k);
    const [a] = reopen([legacy[0]]);
    expect(a!.chainCode).toBeUndefined();
    const root = deriveKeyShare(a!, []);
    expect(verifyWithStandardVerifier(scheme, root.signingPublicKey, msg, sign([root.key, legacy[1]!], [1, 2], msg))).toBe(true);
    rejects(() => deriveKeyShare(a!, [44, 0, 0, 0, 0]), 'ERR_DERIVATION_UNSUPPORTED');
  });

  it('a chain-coded record unseals and derives', () => {
    const [a] = reopen([fresh[0]]);
    expect(a!.chainCode).toBe(fresh[0]!.chainCode);
    const d = [deriveKeyShare(a!, [44, 0, 0, 0, 0]), deriveKeyShare(fresh[1]!, [44, 0, 0, 0, 0])];
    expect(verifyWithStandardVerifier(scheme, d[0]!.signingPublicKey, msg, sign(d.map((x) => x.key), [1, 2], msg))).toBe(true);
  });

  it.each([null, 7, '', 'AB'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33)])('a malformed chain code (%j) makes the DB corrupt', (chainCode) => {
    rejects(() => reopen([{ ...fresh[0]!, chainCode }]), 'ERR_SECRETS_DB_CORRUPT');
  });
});
