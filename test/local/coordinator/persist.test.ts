// The reference coordinator's kept state (local/coordinator/persist.ts): a restarted coordinator on
// the same dir takes back its co-signers, users (approval keys, key shares) and spent tokens; the
// file is 0600; a damaged or foreign file stops it (fail closed) instead of starting empty; admitted
// builds only widen a configured attestation policy.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createState, admitMeasurements, persist } from '../../../local/coordinator/state.ts';
import { STATE_FILE } from '../../../local/coordinator/persist.ts';
import { tempDir } from '../../support/temp-dir.ts';

const pcr = (c: string): string => c.repeat(96);
const share = { keyId: 'k1', scheme: 'frost-ed25519', threshold: 2, participants: [1, 2], identifier: 2, secretShare: 'ab'.repeat(32), groupPublicKey: 'cd'.repeat(32), verifyingShares: { '1': 'ef', '2': '01' }, createdAt: 1 } as const;

function seeded(dir: string, attestation = { roots: [{ pem: 'x' }], allowedMeasurements: [{ PCR0: pcr('a'), PCR1: pcr('b'), PCR2: pcr('c') }] }) {
  return createState({ dir, tls: { certPem: '', keyPem: '' }, attestation });
}

describe('reference coordinator: kept state', () => {
  it('a restart on the same dir takes back co-signers, users with their key shares, spent tokens and admitted builds', async () => {
    const dir = tempDir('ncs-coord-persist-');
    const st = seeded(dir);
    st.cosigners.set('cos-1', { key: 'spki-b64' });
    const approvalPublicKey = generateKeyPairSync('ed25519').publicKey;
    st.users.set('u1', { id: 'u1', workspace: 'w', cosignerId: 'cos-1', approvalPublicKey, status: 'active', keys: [{ scheme: 'frost-ed25519', keyId: 'k1', groupPublicKey: 'cd'.repeat(32), own: [share] }], pairingId: 'p1' });
    st.usedTokens.add('nonce-1');
    st.tokenHolders.set('nonce-1', { cosignerId: 'cos-1', key: 'spki-b64', userId: 'u1' });
    admitMeasurements(st, { PCR0: pcr('d'), PCR1: pcr('b'), PCR2: pcr('c') });
    persist(st);
    await st.signer.close();
    expect(statSync(join(dir, STATE_FILE)).mode & 0o777).toBe(0o600);

    const again = seeded(dir);
    expect(again.cosigners.get('cos-1')).toEqual({ key: 'spki-b64' });
    const u = again.users.get('u1')!;
    expect(u.status).toBe('active');
    expect(u.approvalPublicKey.equals(approvalPublicKey)).toBe(true);
    expect(u.keys[0]!.own[0]).toEqual(share);
    expect(again.usedTokens.has('nonce-1')).toBe(true);
    expect(again.attestation!.allowedMeasurements.map((m) => m.PCR0)).toEqual([pcr('a'), pcr('d')]);
    await again.signer.close();
  });

  it('a damaged, foreign or inconsistent state file stops the coordinator instead of starting empty', () => {
    const dir = tempDir('ncs-coord-persist-bad-');
    const st = seeded(dir);
    persist(st);
    const good = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as Record<string, unknown>;
    const bad: Array<[string, string]> = [
      ['not JSON', '{'],
      ['other version', JSON.stringify({ ...good, version: 2 })],
      ['user of an unknown co-signer', JSON.stringify({ ...good, users: [{ id: 'u', workspace: 'w', cosignerId: 'nobody', approvalPublicKey: generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), status: 'active', keys: [] }] })],
      ['approval key not Ed25519', JSON.stringify({ ...good, cosigners: { c: 'k' }, users: [{ id: 'u', workspace: 'w', cosignerId: 'c', approvalPublicKey: generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), status: 'active', keys: [] }] })],
      ['key share not hex', JSON.stringify({ ...good, cosigners: { c: 'k' }, users: [{ id: 'u', workspace: 'w', cosignerId: 'c', approvalPublicKey: generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), status: 'active', keys: [{ scheme: 'frost-ed25519', keyId: 'k1', groupPublicKey: 'cd', own: [{ ...share, secretShare: 'zz' }] }] }] })],
      ['bad admitted measurements', JSON.stringify({ ...good, admittedMeasurements: [{ PCR0: 'short', PCR1: pcr('b'), PCR2: pcr('c') }] })],
    ];
    for (const [why, text] of bad) {
      writeFileSync(join(dir, STATE_FILE), text);
      expect(() => seeded(dir), why).toThrow(STATE_FILE);
    }
  });

  it('admitting a build needs a configured attestation policy (none configured: every co-signer stays refused)', () => {
    const st = createState({ tls: { certPem: '', keyPem: '' } });
    expect(() => admitMeasurements(st, { PCR0: pcr('d'), PCR1: pcr('b'), PCR2: pcr('c') })).toThrow(expect.objectContaining({ code: 'ERR_ATTESTATION_REFUSED' }));
    expect(st.attestation).toBeUndefined();
    expect(st.admitted).toEqual([]);
  });
});
