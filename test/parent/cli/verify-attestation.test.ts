import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevAttestor, DevAuthority } from '../../../enclave/dev/dev-authority.ts';
import { measureBundle } from '../../../proto/attestation/measure.ts';
import { verifyAttestationCommand } from '../../../parent/cli/verify-attestation.ts';
import { ownerKeyFingerprint } from '../../../proto/coordinator/owner-approval.ts';
import { testAttestation } from '../../support/attested.ts';
import { EVERVAULT_SIGNED, SEQUENCE_PROD, SUI_DEBUG, vectorsDir } from '../../proto/attestation/vectors.ts';

async function run(argv: string[], stdin: Uint8Array | string = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await verifyAttestationCommand(argv, { stdin: Readable.from([Buffer.from(stdin)]), stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

const file = (d: { file: string }): string => path.join(vectorsDir, d.file);

describe('cosigner verify-attestation', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'cosigner-va-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('exit 0 and a human summary for a valid document at its timestamp', async () => {
    const r = await run([file(SEQUENCE_PROD), '--at', String(SEQUENCE_PROD.timestamp), '--pcr', `0=${SEQUENCE_PROD.pcrs[0]}`]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('attestation document: VALID');
    expect(r.out).toMatch(new RegExp(`\\n  PCR0 +${SEQUENCE_PROD.pcrs[0]}\\n`));
    expect(r.out).toMatch(/public_key {3}sha256 [0-9a-f]{64} \(294 bytes\)/);
  });

  it('--json: the standard envelope around module id, time, PCRs, public key hash, user_data, verdict and failures', async () => {
    const r = await run([file(SUI_DEBUG), '--at', 'doc', '--json']);
    expect(r.code).toBe(1);
    const env = JSON.parse(r.out);
    // An invalid document: ok false, exit code 1, the first failed check as the error with its next: step.
    expect(env).toMatchObject({ ok: false, command: 'verify-attestation', exitCode: 1, error: { code: 'ERR_ATTESTATION_DEBUG', retryable: false, hint: expect.stringContaining('debug') } });
    expect(r.out.trim().split('\n')).toHaveLength(1);
    const j = env.result;
    expect(j.verdict).toBe('invalid');
    expect(j.moduleId).toBe(SUI_DEBUG.moduleId);
    expect(j.timestamp).toBe(SUI_DEBUG.timestamp);
    expect(j.debug).toBe(true);
    expect(Object.keys(j.pcrs)).toHaveLength(16);
    expect(j.userData).toHaveLength(64);
    expect(j.publicKeySha256).toBeNull();
    expect(j.failures).toEqual([{ code: 'ERR_ATTESTATION_DEBUG', message: expect.any(String) }]);
    const valid = JSON.parse((await run([file(SUI_DEBUG), '--at', 'doc', '--json', '--allow-debug'])).out);
    expect(valid).toMatchObject({ ok: true, command: 'verify-attestation' });
    expect(valid.error).toBeUndefined();
    expect(valid.result.verdict).toBe('valid');
    expect(valid.result.failures).toEqual([]);
    expect(valid.result.identityMatches).toBeNull();
  });

  it('exit 1 with the failed check codes: expired, PCR, nonce, user_data, max age', async () => {
    const at = String(EVERVAULT_SIGNED.timestamp);
    const r = await run([file(EVERVAULT_SIGNED), '--at', '2030-01-01T00:00:00Z', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).result.failures.map((f: { code: string }) => f.code)).toEqual(['ERR_ATTESTATION_EXPIRED']);
    const r2 = await run([file(EVERVAULT_SIGNED), '--at', at, '--pcr', `0=${'ab'.repeat(48)}`, '--nonce', '00', '--user-data', '00', '--max-age', '0', '--json']);
    expect(r2.code).toBe(1);
    expect(JSON.parse(r2.out).result.failures.map((f: { code: string }) => f.code)).toEqual(['ERR_ATTESTATION_PCR_MISMATCH', 'ERR_ATTESTATION_NONCE', 'ERR_ATTESTATION_USER_DATA']);
    const r3 = await run([file(EVERVAULT_SIGNED), '--at', String(EVERVAULT_SIGNED.timestamp + 600_000), '--max-age', '60']);
    expect(r3.code).toBe(1);
    expect(r3.out).toContain('ERR_ATTESTATION_STALE');
  });

  it('reads stdin, hex and base64 text', async () => {
    const at = String(SEQUENCE_PROD.timestamp);
    expect((await run(['-', '--at', at], SEQUENCE_PROD.bytes)).code).toBe(0);
    expect((await run(['-', '--at', at], Buffer.from(SEQUENCE_PROD.bytes).toString('hex') + '\n')).code).toBe(0);
    expect((await run(['-', '--at', at], Buffer.from(SEQUENCE_PROD.bytes).toString('base64'))).code).toBe(0);
  });

  it('a malformed document is invalid (1); unreadable input and bad usage are 2', async () => {
    const junk = path.join(tmp, 'junk.bin');
    writeFileSync(junk, Buffer.from([0x84, 0x01]));
    const r = await run([junk, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).result.failures[0].code).toBe('ERR_ATTESTATION_MALFORMED');
    expect((await run([path.join(tmp, 'missing.cose')])).code).toBe(2);
    expect((await run([])).code).toBe(2);
    expect((await run(['a', 'b'])).code).toBe(2);
    expect((await run([file(SEQUENCE_PROD), '--bogus'])).code).toBe(2);
    expect((await run([file(SEQUENCE_PROD), '--pcr', '0=abc'])).code).toBe(2);
    expect((await run([file(SEQUENCE_PROD), '--pcr', `40=${'ab'.repeat(48)}`])).code).toBe(2);
    expect((await run([file(SEQUENCE_PROD), '--nonce', 'xyz'])).code).toBe(2);
    expect((await run([file(SEQUENCE_PROD), '--at', 'yesterday'])).code).toBe(2);
    expect((await run([file(SEQUENCE_PROD), '--max-age', '-5'])).code).toBe(2);
    expect((await run(['-'], new Uint8Array(70 * 1024).fill(0x41))).code).toBe(2);
    const u = await run([file(SEQUENCE_PROD), '--bogus', '--json']);
    expect(JSON.parse(u.out)).toMatchObject({ ok: false, command: 'verify-attestation', exitCode: 2, error: { code: 'ERR_USAGE', hint: expect.any(String) } });
    // Unreadable input is exit 2 with the envelope too (not the table's 1 for ERR_NOT_FOUND).
    const m = await run([path.join(tmp, 'missing.cose'), '--json']);
    expect(m.code).toBe(2);
    expect(JSON.parse(m.out)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'ERR_NOT_FOUND' } });
    expect((await run(['--help'])).code).toBe(0);
  });

  it('--root and --measurements: a dev document against the dev root and its bundle measurements', async () => {
    const authority = await DevAuthority.createEphemeral();
    const bundle = new TextEncoder().encode('bundle');
    const doc = await new DevAttestor({ authority, bundleBytes: bundle }).attest({ nonce: Uint8Array.of(0xaa, 0xbb) });
    const docPath = path.join(tmp, 'dev.cose');
    const rootPath = path.join(tmp, 'root.pem');
    const measPath = path.join(tmp, 'measurements.json');
    writeFileSync(docPath, doc);
    writeFileSync(rootPath, authority.rootPem);
    writeFileSync(measPath, JSON.stringify(measureBundle(bundle)));
    expect((await run([docPath, '--root', rootPath, '--measurements', measPath, '--nonce', 'aabb', '--max-age', '300'])).code).toBe(0);
    // Without --root the AWS root is the anchor: a dev document never passes.
    const r = await run([docPath, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).result.failures.map((f: { code: string }) => f.code)).toContain('ERR_ATTESTATION_CHAIN');
    writeFileSync(measPath, JSON.stringify(measureBundle(new TextEncoder().encode('other'))));
    expect((await run([docPath, '--root', rootPath, '--measurements', measPath])).code).toBe(1);
    writeFileSync(measPath, '{not json');
    expect((await run([docPath, '--root', rootPath, '--measurements', measPath])).code).toBe(2);
  });

  it('prints the co-signer identity the user_data carries (identity v2)', async () => {
    const att = await testAttestation();
    const coordinatorKey = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const ownerKey = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const identity = { cosignerId: 'cs-printed', coordinatorAuthKeyPkcs8: generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex') };
    const docPath = path.join(tmp, 'identity.cose');
    const rootPath = path.join(tmp, 'identity-root.pem');
    writeFileSync(docPath, await att.attestFor(identity, coordinatorKey, ownerKey)(new Uint8Array(32)));
    writeFileSync(rootPath, att.authority.rootPem);
    const r = await run([docPath, '--root', rootPath]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('cosigner id              cs-printed');
    expect(r.out).toContain(`owner key fingerprint    ${ownerKeyFingerprint(ownerKey)}`);
    expect(r.out).toMatch(/coordinator auth key {5}sha256 [0-9a-f]{64}/);
    expect(r.out).toContain('build test-build');
    const j = JSON.parse((await run([docPath, '--root', rootPath, '--json'])).out).result;
    expect(j.identity).toMatchObject({ version: 2, cosignerId: 'cs-printed', ownerKeyFingerprint: ownerKeyFingerprint(ownerKey), kmsPolicyChangeable: null });
  });
});
