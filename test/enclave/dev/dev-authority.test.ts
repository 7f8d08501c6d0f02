import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { createAttestor } from '../../../enclave/dev/create-attestor.ts';
import { DEV_CA_FILES, DEV_LEAF_LIFETIME_MS, DevAttestor, DevAuthority } from '../../../enclave/dev/dev-authority.ts';
import { extendFromZero, measureBundle } from '../../../proto/attestation/measure.ts';
import { checkAttestation, verifyAttestation } from '../../../proto/attestation/verify.ts';
import { hex } from '../../proto/attestation/vectors.ts';

const bundle = new TextEncoder().encode('export const enclave = "nitro-cosigner test bundle";\n');
const codeOf = async (fn: () => unknown): Promise<string> => {
  try {
    await fn();
  } catch (err) {
    if (err instanceof CosignerError) return err.code;
    throw err;
  }
  throw new Error('expected a CosignerError');
};

describe('development authority', () => {
  let authority: DevAuthority;
  let tmp: string;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'cosigner-devca-'));
    authority = await DevAuthority.loadOrCreate(path.join(tmp, 'dev-ca'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('persists PEM certificates and PKCS#8 keys with mode 0600 and reloads the same root', async () => {
    const dir = path.join(tmp, 'dev-ca');
    expect(readdirSync(dir).sort()).toEqual(Object.values(DEV_CA_FILES).sort());
    for (const f of readdirSync(dir)) expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(dir, DEV_CA_FILES.rootKey), 'utf8')).toContain('BEGIN PRIVATE KEY');
    const again = await DevAuthority.loadOrCreate(dir);
    expect(again.rootPem).toBe(authority.rootPem);
    expect(new X509Certificate(authority.rootPem).ca).toBe(true);
  });

  it('documents verify against the dev root and fail against the AWS root', async () => {
    const doc = await new DevAttestor({ authority, bundleBytes: bundle }).attest({});
    expect(doc[0]).toBe(0x84); // untagged, like the NSM
    const att = verifyAttestation(doc, { roots: [{ pem: authority.rootPem }] });
    expect(att.debug).toBe(false);
    expect(await codeOf(() => verifyAttestation(doc))).toBe('ERR_ATTESTATION_CHAIN');
  });

  it('PCR0/1/2 are the bundle measurement; changing the bundle changes PCR0', async () => {
    const m = measureBundle(bundle).Measurements;
    const doc = await new DevAttestor({ authority, bundleBytes: bundle }).attest({});
    expect(verifyAttestation(doc, { roots: [{ pem: authority.rootPem }], expectPcrs: { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2 } }).pcrs.size).toBe(16);
    const changed = new Uint8Array(bundle);
    changed[0] = (changed[0] as number) ^ 1;
    const doc2 = await new DevAttestor({ authority, bundleBytes: changed }).attest({});
    const r = checkAttestation(doc2, { roots: [{ pem: authority.rootPem }], expectPcrs: { 0: m.PCR0 } });
    expect(r.failures.map((f) => f.code)).toEqual(['ERR_ATTESTATION_PCR_MISMATCH']);
    expect(measureBundle(changed).Measurements.PCR0).not.toBe(m.PCR0);
    expect(measureBundle(changed).Measurements.PCR1).toBe(m.PCR1);
  });

  it('PCR3/PCR4 follow the role and instance; module_id starts with the instance id', async () => {
    const a = new DevAttestor({ authority, bundleBytes: bundle, instanceId: 'i-0123456789abcdef0', roleArn: 'arn:aws:iam::1:role/r' });
    const att = verifyAttestation(await a.attest({}), { roots: [{ pem: authority.rootPem }] });
    expect(hex(att.pcrs.get(4))).toBe(hex(extendFromZero(new TextEncoder().encode('i-0123456789abcdef0'))));
    expect(hex(att.pcrs.get(3))).toBe(hex(extendFromZero(new TextEncoder().encode('arn:aws:iam::1:role/r'))));
    expect(att.moduleId).toMatch(/^i-0123456789abcdef0-enc[0-9a-f]{16}$/);
    expect(att.moduleId).toBe(a.moduleId);
  });

  it('nonce, user_data and public_key round-trip', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const nonce = new Uint8Array(512).fill(7);
    const userData = new Uint8Array(createHash('sha256').update('u').digest());
    const doc = await new DevAttestor({ authority, bundleBytes: bundle }).attest({ nonce, userData, publicKey: spki });
    const att = verifyAttestation(doc, { roots: [{ pem: authority.rootPem }], nonce, userData });
    expect(hex(att.publicKey)).toBe(hex(spki));
    expect(att.publicKey).toHaveLength(294);
    expect(await codeOf(() => verifyAttestation(doc, { roots: [{ pem: authority.rootPem }], nonce: new Uint8Array(512) }))).toBe('ERR_ATTESTATION_NONCE');
  });

  it('refuses oversized request fields like the NSM', async () => {
    const a = new DevAttestor({ authority, bundleBytes: bundle });
    expect(await codeOf(() => a.attest({ nonce: new Uint8Array(513) }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(() => a.attest({ userData: new Uint8Array(513) }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(() => a.attest({ publicKey: new Uint8Array(1025) }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('debug mode zeroes PCR0/1/2/8 and is refused without allowDebug', async () => {
    const doc = await new DevAttestor({ authority, bundleBytes: bundle, debug: true }).attest({});
    expect(await codeOf(() => verifyAttestation(doc, { roots: [{ pem: authority.rootPem }] }))).toBe('ERR_ATTESTATION_DEBUG');
    const att = verifyAttestation(doc, { roots: [{ pem: authority.rootPem }], allowDebug: true });
    for (const i of [0, 1, 2, 8]) expect(hex(att.pcrs.get(i))).toBe('00'.repeat(48));
    expect(hex(att.pcrs.get(4))).not.toBe('00'.repeat(48));
  });

  it('getRandom and describePcr are bounded', async () => {
    const a = new DevAttestor({ authority, bundleBytes: bundle });
    expect(await a.getRandom(32)).toHaveLength(32);
    expect(await codeOf(() => a.getRandom(0))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(() => a.getRandom(1 << 20))).toBe('ERR_INVALID_ARGUMENT');
    const p0 = await a.describePcr(0);
    expect(p0.locked).toBe(true);
    expect(hex(p0.value)).toBe(measureBundle(bundle).Measurements.PCR0);
    expect((await a.describePcr(20)).locked).toBe(false);
    expect(await codeOf(() => a.describePcr(32))).toBe('ERR_NSM');
  });

  it('needs a bundle or PCRs, and valid PCR overrides', () => {
    expect(() => new DevAttestor({ authority })).toThrow(CosignerError);
    expect(() => new DevAttestor({ authority, pcrs: new Map([[0, new Uint8Array(32)]]) })).toThrow(CosignerError);
    expect(() => new DevAttestor({ authority, bundleBytes: bundle, instanceId: 'bad id' })).toThrow(CosignerError);
  });

  it('re-issues the leaf when it nears expiry, and persists it', async () => {
    let now = Date.now();
    const dir = path.join(tmp, 'renew');
    const a = await DevAuthority.loadOrCreate(dir, { now: () => now });
    const first = await a.currentLeaf();
    const leafPem = readFileSync(path.join(dir, DEV_CA_FILES.leafCert), 'utf8');
    now += DEV_LEAF_LIFETIME_MS - 60_000; // inside the renewal margin
    const second = await a.currentLeaf();
    expect(hex(second.der)).not.toBe(hex(first.der));
    expect(readFileSync(path.join(dir, DEV_CA_FILES.leafCert), 'utf8')).not.toBe(leafPem);
    const doc = await new DevAttestor({ authority: a, bundleBytes: bundle, now: () => now }).attest({});
    expect(checkAttestation(doc, { roots: [{ pem: a.rootPem }], at: now }).ok).toBe(true);
  });

  it('refuses an incomplete or mismatched CA directory', async () => {
    const dir = path.join(tmp, 'broken');
    await DevAuthority.loadOrCreate(dir);
    rmSync(path.join(dir, DEV_CA_FILES.intermediateKey));
    expect(await codeOf(() => DevAuthority.loadOrCreate(dir))).toBe('ERR_CONFIG_INVALID');
    const dir2 = path.join(tmp, 'mismatch');
    await DevAuthority.loadOrCreate(dir2);
    writeFileSync(path.join(dir2, DEV_CA_FILES.rootKey), readFileSync(path.join(dir2, DEV_CA_FILES.intermediateKey)));
    expect(await codeOf(() => DevAuthority.loadOrCreate(dir2))).toBe('ERR_CONFIG_INVALID');
  });

  it('createAttestor builds the dev attestor and refuses dev mode without an authority', async () => {
    const a = await createAttestor('dev', { devAuthority: authority, dev: { bundleBytes: bundle } });
    expect(a.mode).toBe('dev');
    expect(await codeOf(() => createAttestor('dev', {}))).toBe('ERR_CONFIG_INVALID');
    expect(await codeOf(() => createAttestor('bogus' as 'dev', {}))).toBe('ERR_CONFIG_INVALID');
  });
});

describe('development authority storage errors', () => {
  it('an unwritable location is ERR_STORAGE', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'cosigner-devca-'));
    try {
      const file = path.join(tmp, 'a-file');
      writeFileSync(file, 'x');
      await expect(DevAuthority.loadOrCreate(path.join(file, 'dev-ca'))).rejects.toMatchObject({ code: 'ERR_STORAGE' });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
