// The BIP-340 reference CSV exercises the verifier the project relies on for frost-secp256k1-tr.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyWithStandardVerifier } from '../../../enclave/mpc/suites.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const csv = readFileSync(path.resolve(repoRoot, '..', 'shared', 'vectors', 'bip340', 'test-vectors.csv'), 'utf8');
const rows = csv.trim().split(/\r?\n/).slice(1).map((l) => l.split(','));

describe('BIP-340 verifier (test-vectors.csv)', () => {
  it('has the published cases', () => expect(rows.length).toBeGreaterThanOrEqual(15));
  it.each(rows.map((r) => [r[0], r] as const))('case %s', (_i, r) => {
    const [, , pub, , message, sig, result] = r;
    const ok = verifyWithStandardVerifier('frost-secp256k1-tr', Buffer.from(pub!, 'hex'), Buffer.from(message!, 'hex'), Buffer.from(sig!, 'hex'));
    expect(ok).toBe(result === 'TRUE');
  });
});
