import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPairingToken, verifyPairingToken } from '../../../proto/coordinator/pairing-token.ts';

const coordinator = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const T0 = 1_700_000_000_000;
const never = (_nonce: string): boolean => false;

function verify(token: string, now = T0 + 1000, isUsed = never) {
  return verifyPairingToken(token, { coordinatorKey: coordinator.publicKey, now, isUsed });
}

describe('pairing token', () => {
  it('accepts a fresh token signed by the coordinator key fixed at setup', () => {
    const { token, claims } = createPairingToken({ userId: 'alice', workspace: 'ws', now: T0 }, coordinator);
    expect(verify(token)).toEqual(claims);
    expect(claims.exp - claims.iat).toBe(3600_000);
  });

  it('rejects an expired token', () => {
    const { token } = createPairingToken({ userId: 'alice', workspace: 'ws', now: T0 }, coordinator);
    expect(() => verify(token, T0 + 3600_000)).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_EXPIRED' }));
  });

  it('rejects a reused token', () => {
    const { token, claims } = createPairingToken({ userId: 'alice', workspace: 'ws', now: T0 }, coordinator);
    expect(() => verify(token, T0 + 1, (n) => n === claims.nonce)).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_REUSED' }));
  });

  it('rejects a token signed by another key, altered claims, a foreign kid, a long lifetime and garbage', () => {
    const forged = createPairingToken({ userId: 'alice', workspace: 'ws', now: T0 }, other).token;
    expect(() => verify(forged)).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_INVALID' }));

    const { token } = createPairingToken({ userId: 'alice', workspace: 'ws', now: T0 }, coordinator);
    const [p, b, s] = token.split('.');
    const altered = JSON.parse(Buffer.from(b!, 'base64url').toString());
    altered.userId = 'mallory';
    expect(() => verify(`${p}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${s}`)).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_INVALID' }));

    // correctly signed by the coordinator key but claiming a 2 h lifetime or another key id
    const resign = (claims: object) => {
      const payload = Buffer.from(JSON.stringify(claims));
      const sig = sign(null, Buffer.concat([Buffer.from('nitro-cosigner/pairing-token/v1\0'), payload]), coordinator.privateKey);
      return `nct1.${payload.toString('base64url')}.${sig.toString('base64url')}`;
    };
    const base = JSON.parse(Buffer.from(b!, 'base64url').toString());
    expect(() => verify(resign({ ...base, exp: base.iat + 7200_000 }))).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_INVALID' }));
    expect(() => verify(resign({ ...base, kid: '00'.repeat(16) }))).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_INVALID' }));
    expect(() => verify(resign({ ...base, extra: 1 }))).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_INVALID' }));
    expect(() => verify(resign({ ...base, iat: T0 + 3600_000, exp: T0 + 3700_000 }))).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_INVALID' }));
    for (const junk of ['', 'nct1..', 'x'.repeat(5000), 'nct2.a.b', `${p}.${b}`]) {
      expect(() => verify(junk)).toThrow(expect.objectContaining({ code: 'ERR_PAIRING_TOKEN_INVALID' }));
    }
  });
});
