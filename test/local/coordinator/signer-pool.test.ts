// The reference coordinator's signing core, in the main thread and in worker threads: same
// results, same refusals (bad peer share named, repeated round 2, unknown or aborted sessions).
import { afterAll, describe, expect, it } from 'vitest';
import { FrostSigningSession } from '../../../enclave/mpc/signing-session.ts';
import { verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';
import type { ThresholdScheme } from '../../../enclave/vault/records.ts';
import { runDkg } from '../../enclave/mpc/helpers.ts';
import { localSigner, MAX_OPEN_SESSIONS, SignerCore, type CoordinatorSigner } from '../../../local/coordinator/signer-core.ts';
import { workerSigner } from '../../../local/coordinator/signer-pool.ts';

const message = new TextEncoder().encode('coordinator signer test');
const pool = workerSigner(2);
afterAll(() => pool.close());

const variants: [string, CoordinatorSigner][] = [
  ['main thread', localSigner()],
  ['worker threads', pool],
];

async function start(signer: CoordinatorSigner, scheme: ThresholdScheme, sessionId: string) {
  const keys = runDkg(scheme, 2, [1, 2]);
  const cosigner = new FrostSigningSession({ sessionId, key: keys[0]!, message, signers: [1, 2] });
  const own = await signer.commit({ sessionId, keys: [keys[1]!], message, signers: [1, 2] });
  const commitments = [cosigner.commit(), ...own];
  return { keys, cosigner, commitments };
}

describe.each(variants)('coordinator signer (%s)', (_name, signer) => {
  it.each<ThresholdScheme>(['frost-ed25519', 'frost-secp256k1-tr'])('%s: signs, aggregates, verifies', async (scheme) => {
    const { keys, cosigner, commitments } = await start(signer, scheme, `ok-${scheme}`);
    const own = await signer.sign(`ok-${scheme}`, commitments);
    expect(Object.keys(own)).toEqual(['2']);
    const r = await signer.aggregate(`ok-${scheme}`, { 1: cosigner.sign(commitments, cosigner.binding) });
    expect(r.verified).toBe(true);
    expect(verifyWithStandardVerifier(scheme, Buffer.from(keys[0]!.groupPublicKey, 'hex'), message, Buffer.from(r.signature, 'hex'))).toBe(true);
    // the session is gone: no second aggregation, no second round 2
    await expect(signer.aggregate(`ok-${scheme}`, {})).rejects.toMatchObject({ code: 'ERR_SESSION_ABORTED' });
    await expect(signer.sign(`ok-${scheme}`, commitments)).rejects.toMatchObject({ code: 'ERR_SESSION_ABORTED' });
  });

  it('names the co-signer when its share is bad', async () => {
    const { cosigner, commitments } = await start(signer, 'frost-ed25519', 'bad-share');
    await signer.sign('bad-share', commitments);
    cosigner.sign(commitments, cosigner.binding);
    await expect(signer.aggregate('bad-share', { 1: '01' + '00'.repeat(31) })).rejects.toMatchObject({ code: 'ERR_BAD_SHARE', details: { identifier: 1 } });
  });

  it('refuses a repeated round 2 and a share claimed for its own identifier', async () => {
    const { commitments } = await start(signer, 'frost-secp256k1-tr', 'twice');
    await signer.sign('twice', commitments);
    await expect(signer.sign('twice', commitments)).rejects.toMatchObject({ code: 'ERR_NONCE_REUSE' });
    // the failed repeat aborted the session for good
    await expect(signer.aggregate('twice', { 1: '00'.repeat(32) })).rejects.toMatchObject({ code: 'ERR_SESSION_ABORTED' });
    const again = await start(signer, 'frost-secp256k1-tr', 'own-id');
    await signer.sign('own-id', again.commitments);
    await expect(signer.aggregate('own-id', { 2: '00'.repeat(32) })).rejects.toMatchObject({ code: 'ERR_BAD_SHARE' });
  });

  it('refuses an altered own commitment, duplicate session ids, and signs nothing after abort', async () => {
    const { commitments } = await start(signer, 'frost-ed25519', 'alter');
    const swapped = [commitments[0]!, { ...commitments[1]!, hiding: commitments[0]!.hiding }];
    await expect(signer.sign('alter', swapped)).rejects.toMatchObject({ code: 'ERR_SESSION_ABORTED' });
    await expect(signer.sign('alter', commitments)).rejects.toMatchObject({ code: 'ERR_SESSION_ABORTED' });
    const keys = runDkg('frost-ed25519', 2, [1, 2]);
    await signer.commit({ sessionId: 'dup', keys: [keys[1]!], message, signers: [1, 2] });
    await expect(signer.commit({ sessionId: 'dup', keys: [keys[1]!], message, signers: [1, 2] })).rejects.toMatchObject({ code: 'ERR_SESSION_ABORTED' });
    signer.abort('dup');
    signer.abort('dup');
    await expect(signer.sign('dup', [])).rejects.toMatchObject({ code: 'ERR_SESSION_ABORTED' });
  });
});

describe('SignerCore bounds', () => {
  it('caps open sessions', () => {
    const core = new SignerCore(3);
    const keys = runDkg('frost-secp256k1-tr', 2, [1, 2]);
    for (let i = 0; i < 3; i++) core.commit({ sessionId: `s${i}`, keys: [keys[1]!], message, signers: [1, 2] });
    expect(() => core.commit({ sessionId: 'one-more', keys: [keys[1]!], message, signers: [1, 2] })).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }));
    core.abort('s0');
    expect(core.size).toBe(2);
    expect(MAX_OPEN_SESSIONS).toBeGreaterThan(1000); // the default bound
  });
});
