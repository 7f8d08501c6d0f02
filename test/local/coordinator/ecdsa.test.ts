// The reference coordinator's threshold ECDSA side and the relay's wire parsing: strict batches
// (count, size, canonical base64), round numbers, the coordinator refusing messages the co-signer
// did not send and DKG or refresh rounds out of order, and the refresh commit rule (kept-aside
// shares adopted only on commit). Fake protocol (test/support/fake-ecdsa.ts).
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { handleCosigner } from '../../../local/coordinator/pairing.ts';
import { CoordinatorRelay } from '../../../local/coordinator/ecdsa-relay.ts';
import { createState, type Pairing } from '../../../local/coordinator/state.ts';
import { MAX_ECDSA_BATCH_B64, MAX_ECDSA_MESSAGES, parseEcdsaMessages, parseEcdsaRefreshCommit, parseSignRound } from '../../../proto/coordinator/ecdsa-messages.ts';
import { fakeEcdsaProtocols } from '../../support/fake-ecdsa.ts';
import { rejectionCode } from '../../support/error-code.ts';

const fake = fakeEcdsaProtocols();
const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

describe('relay batches on the wire', () => {
  const m = { from: 2, to: 0, payload: 'AAAA' };
  it('accepts a well-formed batch and refuses every bound', () => {
    expect(parseEcdsaMessages([m, { from: 3, to: 1, payload: 'AQID' }])).toHaveLength(2);
    for (const bad of [
      [{ ...m, payload: '' }], [{ ...m, payload: 'AAA' }], [{ ...m, payload: 'AA==AA==' }], [{ ...m, payload: 'A\nAA' }],
      [{ ...m, from: 0 }], [{ ...m, to: 256 }], [{ ...m, from: 1.5 }], [{ ...m, extra: 1 }], [{ from: 2, to: 0 }],
      Array.from({ length: MAX_ECDSA_MESSAGES + 1 }, () => m),
      [{ ...m, payload: 'A'.repeat(MAX_ECDSA_BATCH_B64 / 2) }, { ...m, payload: 'A'.repeat(MAX_ECDSA_BATCH_B64 / 2 + 4) }],
      'not an array',
    ]) expect(code(() => parseEcdsaMessages(bad)), JSON.stringify(bad).slice(0, 80)).toBe('ERR_INVALID_ARGUMENT');
  });
  it('sign.round takes rounds 2 and 3 only, a derived key id and a SHA-256 digest', () => {
    const body = { sessionId: 's', keyId: 'dkls23-secp256k1:ab/44/60', messageDigest: 'a'.repeat(64), round: 2, messages: [] };
    expect(parseSignRound(body).round).toBe(2);
    for (const over of [{ round: 1 }, { round: 4 }, { messageDigest: 'a'.repeat(63) }, { keyId: 'a b' }, { extra: true }]) {
      expect(code(() => parseSignRound({ ...body, ...over })), JSON.stringify(over)).toBe('ERR_INVALID_ARGUMENT');
    }
  });
  it('a refresh commit names compressed points only', () => {
    const ok = { refreshId: 'r', userId: 'u', keyId: 'k', groupPublicKey: `02${'1'.repeat(64)}`, verifyingShares: { 1: `03${'2'.repeat(64)}` } };
    expect(parseEcdsaRefreshCommit(ok).verifyingShares).toEqual({ 1: `03${'2'.repeat(64)}` });
    for (const over of [{ groupPublicKey: `04${'1'.repeat(64)}` }, { verifyingShares: { 0: `02${'1'.repeat(64)}` } }, { verifyingShares: { 1: 'zz' } }, { verifyingShares: [] }]) {
      expect(code(() => parseEcdsaRefreshCommit({ ...ok, ...over })), JSON.stringify(over)).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('the coordinator side of the relay', () => {
  it('refuses a message the co-signer did not send, and stays aborted', () => {
    const relay = new CoordinatorRelay([fake.dkg({ threshold: 2, participants: [1, 2], identifier: 2, now: 0 })]);
    relay.advance([]);
    expect(code(() => relay.advance([{ from: 2, to: 0, payload: 'AAAA' }]))).toBe('ERR_SESSION_ABORTED');
    expect(code(() => relay.advance([]))).toBe('ERR_SESSION_ABORTED');
  });

  it('ecdsa.dkg out of order or repeated aborts the pairing', async () => {
    const st = createState({ tls: { certPem: '', keyPem: '' }, ecdsaProtocols: fake });
    const ctx = { cosignerId: 'cs', clientKey: generateKeyPairSync('ed25519').publicKey };
    const pairing = (id: string): Pairing => ({ id, userId: 'u', workspace: 'w', cosignerId: 'cs', cosignerKey: ctx.clientKey, approvalPublicKey: ctx.clientKey, schemes: ['dkls23-secp256k1'], dkg: new Map(), keys: [], attestedAuthKey: '' });
    st.pairings.set('p1', pairing('p1'));
    const body = (pairingId: string, round: number) => ({ pairingId, scheme: 'dkls23-secp256k1', round, messages: [] });
    expect(await rejectionCode(handleCosigner(st, ctx, 'ecdsa.dkg', body('p1', 2)))).toBe('ERR_SESSION_ABORTED');
    expect(st.pairings.has('p1')).toBe(false);
    st.pairings.set('p2', pairing('p2'));
    await handleCosigner(st, ctx, 'ecdsa.dkg', body('p2', 1));
    expect(await rejectionCode(handleCosigner(st, ctx, 'ecdsa.dkg', body('p2', 1)))).toBe('ERR_SESSION_ABORTED');
    // Another co-signer cannot drive this pairing.
    st.pairings.set('p3', pairing('p3'));
    expect(await rejectionCode(handleCosigner(st, { ...ctx, cosignerId: 'other' }, 'ecdsa.dkg', body('p3', 1)))).toBe('ERR_NOT_FOUND');
    // FROST's DKG refuses the ECDSA scheme.
    expect(await rejectionCode(handleCosigner(st, ctx, 'dkg.round1', { pairingId: 'p3', scheme: 'dkls23-secp256k1', package: { identifier: 1, commitment: [], proofOfKnowledge: '', chainCodeCommitment: '' } }))).toBe('ERR_UNSUPPORTED_SCHEME');
  });
});
