import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sealEnvelope } from '../../../proto/coordinator/envelope.ts';
import { EnvelopeRecorder, schemaErrors } from './schema-check.ts';

const key = generateKeyPairSync('ed25519').privateKey;
const seal = (dir: 'c2s' | 's2c', seq: number, type: string, id: string, body: unknown) => sealEnvelope(key, { dir, conn: 'c'.repeat(32), seq, type, id, body: JSON.stringify(body) });

describe('proto/coordinator.schema.json', () => {
  it('accepts a well-formed envelope and body', () => {
    const env = seal('s2c', 1, 'sign.abort', 'r1', { sessionId: 's1' });
    expect(schemaErrors('/$defs/Envelope', env)).toEqual([]);
    expect(schemaErrors('/requests/s2c/sign.abort/body', { sessionId: 's1' })).toEqual([]);
  });

  it('refuses an envelope with an unknown field or a field of the wrong type', () => {
    const env = seal('c2s', 1, 'pair.abort', 'r1', { pairingId: 'p' });
    expect(schemaErrors('/$defs/Envelope', { ...env, extra: 1 })).not.toEqual([]);
    expect(schemaErrors('/$defs/Envelope', { ...env, seq: '1' })).not.toEqual([]);
    expect(schemaErrors('/$defs/Envelope', { ...env, dir: 'up' })).not.toEqual([]);
  });

  it('refuses a body with an unknown field or a field of the wrong type', () => {
    expect(schemaErrors('/requests/c2s/state.generation/body', { generation: 3, extra: true })).not.toEqual([]);
    expect(schemaErrors('/requests/c2s/state.generation/body', { generation: '3' })).not.toEqual([]);
    expect(schemaErrors('/requests/s2c/sign.share/result', { signatureShare: 'ZZ' })).not.toEqual([]);
  });

  it('the recorder reports a bad reply result and a request type the schema does not know', () => {
    const r = new EnvelopeRecorder();
    r.record(seal('s2c', 1, 'user.activate', 'a1', { userId: 'alice', changeId: 'chg-1', expiresAt: 1, signature: `${'A'.repeat(86)}==` }));
    r.record(seal('c2s', 1, 'reply', 'a1', { ok: true, result: { userId: 'alice', status: 'pending' } }));
    r.record(seal('c2s', 2, 'user.delete', 'a2', { userId: 'alice' }));
    const errors = r.errors();
    expect(errors.some((e) => e.startsWith('c2s reply a1: /requests/s2c/user.activate/result/status'))).toBe(true);
    expect(errors).toContain('c2s user.delete a2: request type not in the schema');
    expect(errors).toHaveLength(2);
  });
});
