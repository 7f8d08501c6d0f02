import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecryptCommand, DescribeKeyCommand, EncryptCommand, GenerateDataKeyCommand, GenerateRandomCommand,
  GetKeyPolicyCommand, PutKeyPolicyCommand, CreateKeyCommand, type KMSClient,
} from '@aws-sdk/client-kms';
import { createEphemeralCa, type LocalCa } from '../../../local/local-ca.ts';
import { startKmsStandin, type KmsStandin, type RecipientVerifier } from '../../../local/kms/server.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import { createKmsClient } from '../../../enclave/kms/client.ts';
import { openEnvelope } from '../../../enclave/kms/open-envelope.ts';
import { buildKeyPolicy, type Measurements } from '../../../proto/kms/key-policy.ts';
import type { VerifiedAttestation } from '../../../proto/attestation/types.ts';

const ROLE = 'arn:aws:iam::111122223333:role/cosigner-instance';
const ADMIN = 'arn:aws:iam::111122223333:role/kms-admin';
const OTHER = 'arn:aws:iam::444455556666:user/mallory';
const principals = {
  AKIDROLE: { secretAccessKey: 'role-secret', arn: 'arn:aws:sts::111122223333:assumed-role/cosigner-instance/i-0123' },
  AKIDADMIN: { secretAccessKey: 'admin-secret', arn: ADMIN },
  AKIDOTHER: { secretAccessKey: 'other-secret', arn: OTHER },
};
const M: Measurements = { PCR0: 'aa'.repeat(48), PCR1: 'bb'.repeat(48), PCR2: 'cc'.repeat(48) };
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = rsa.publicKey.export({ type: 'spki', format: 'der' });
const spki1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' });
const spkiEc = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });

// The stand-in's own tests use a fake document: the bytes are JSON naming PCRs. The real verifier
// path is covered end to end in test/enclave/vault/ with the development attestation authority.
const fakeVerifier: RecipientVerifier = (doc) => {
  const j = JSON.parse(Buffer.from(doc).toString()) as { pcr0: string; pcr1: string; pcr2: string; bad?: boolean; key?: 'rsa1024' | 'ec' | 'none' };
  if (j.bad) throw new Error('bad document');
  const att: VerifiedAttestation = {
    moduleId: 'i-0-enc', timestamp: Date.now(), digest: 'SHA384', certificate: new Uint8Array(), cabundle: [],
    pcrs: new Map([[0, Buffer.from(j.pcr0, 'hex')], [1, Buffer.from(j.pcr1, 'hex')], [2, Buffer.from(j.pcr2, 'hex')]]),
    publicKey: j.key === 'rsa1024' ? spki1024 : j.key === 'ec' ? spkiEc : j.key === 'none' ? null : spki, userData: null, nonce: null, debug: /^0+$/.test(j.pcr0),
  };
  return att;
};
const doc = (pcr0: string, extra: object = {}): Uint8Array => Buffer.from(JSON.stringify({ pcr0, pcr1: M.PCR1, pcr2: M.PCR2, ...extra }));
const recipient = (d: Uint8Array) => ({ KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' as const, AttestationDocument: d });

let dir: string;
let ca: LocalCa;
let tls: { certPem: string; keyPem: string };
let kms: KmsStandin;
let keyArn: string;

function client(akid: keyof typeof principals | 'AKIDNOBODY', secret?: string): KMSClient {
  return createKmsClient({
    region: 'us-east-1',
    endpoint: kms.url.replace('127.0.0.1', 'localhost'),
    caPem: ca.certPem,
    dial: loopbackDial().dial,
    credentials: { get: async () => ({ accessKeyId: akid, secretAccessKey: secret ?? (principals as Record<string, { secretAccessKey: string }>)[akid]?.secretAccessKey ?? 'x' }) },
    maxAttempts: 1,
  });
}

async function errName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { name: string }).name;
  }
  return 'no error';
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ncs-kms-'));
  ca = await createEphemeralCa();
  tls = await ca.issueServerCert();
  kms = await startKmsStandin({ dir, trustRootsPem: [], tls, principals, verifyRecipient: fakeVerifier });
  keyArn = (await kms.createKey(buildKeyPolicy({ measurements: M, instanceRoleArn: ROLE, adminArn: ADMIN }))).arn;
});
afterAll(async () => {
  await kms.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('KMS stand-in through the unmodified SDK over a Dial tunnel', () => {
  it('GenerateDataKey with a matching Recipient → CiphertextForRecipient that opens; Decrypt with Recipient agrees', async () => {
    const c = client('AKIDROLE');
    const ec = { purpose: 'test', cosignerId: 'c1' };
    const g = await c.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: ec, Recipient: recipient(doc(M.PCR0)) }));
    expect(g.Plaintext === undefined || g.Plaintext.length === 0).toBe(true);
    const k1 = openEnvelope(g.CiphertextForRecipient!, rsa.privateKey);
    expect(k1.length).toBe(32);
    const d = await c.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob!, EncryptionContext: ec, Recipient: recipient(doc(M.PCR0.toUpperCase())) }));
    expect(openEnvelope(d.CiphertextForRecipient!, rsa.privateKey).equals(k1)).toBe(true);
    expect(d.KeyId).toBe(keyArn);
    c.destroy();
  });

  it('denies the instance role without a Recipient, with another image, and with a debug document', async () => {
    const c = client('AKIDROLE');
    expect(await errName(c.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256' })))).toBe('AccessDeniedException');
    expect(await errName(c.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', Recipient: recipient(doc('dd'.repeat(48))) })))).toBe('AccessDeniedException');
    expect(await errName(c.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', Recipient: recipient(doc('00'.repeat(48))) })))).toBe('AccessDeniedException');
    expect(await errName(c.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', Recipient: recipient(doc(M.PCR0, { bad: true })) })))).toBe('ValidationException');
    c.destroy();
  });

  it('refuses Recipients with a non-RSA-2048 key, no key, or another key encryption algorithm', async () => {
    const c = client('AKIDROLE');
    for (const key of ['rsa1024', 'ec', 'none']) {
      expect(await errName(c.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', Recipient: recipient(doc(M.PCR0, { key })) })))).toBe('ValidationException');
    }
    const wrongAlg = { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_1' as 'RSAES_OAEP_SHA_256', AttestationDocument: doc(M.PCR0) };
    expect(await errName(c.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', Recipient: wrongAlg })))).toBe('ValidationException');
    c.destroy();
  });

  it('wrong EncryptionContext → InvalidCiphertextException', async () => {
    const admin = client('AKIDADMIN');
    // the admin may not decrypt at all; use a key whose default policy admits the account
    const k = await admin.send(new CreateKeyCommand({}));
    const ct = await admin.send(new EncryptCommand({ KeyId: k.KeyMetadata!.Arn!, Plaintext: Buffer.from('hello'), EncryptionContext: { a: '1' } }));
    expect(await errName(admin.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob!, EncryptionContext: { a: '2' } })))).toBe('InvalidCiphertextException');
    expect(await errName(admin.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob! })))).toBe('InvalidCiphertextException');
    const ok = await admin.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob!, EncryptionContext: { a: '1' } }));
    expect(Buffer.from(ok.Plaintext!).toString()).toBe('hello');
    const tampered = Buffer.from(ct.CiphertextBlob!);
    tampered[tampered.length - 1]! ^= 1;
    expect(await errName(admin.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: { a: '1' } })))).toBe('InvalidCiphertextException');
    admin.destroy();
  });

  it('GetKeyPolicy: the instance role may read the policy (no attestation), an outsider may not; only PolicyName "default" exists', async () => {
    const role = client('AKIDROLE');
    const pol = await role.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
    expect(JSON.parse(pol.Policy!).Statement.map((st: { Sid: string }) => st.Sid)).toContain('EnclaveReadsPolicy');
    expect(await errName(role.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'other' })))).toBe('NotFoundException');
    expect(await errName(role.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: pol.Policy! })))).toBe('AccessDeniedException');
    const other = client('AKIDOTHER');
    expect(await errName(other.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' })))).toBe('AccessDeniedException');
    role.destroy();
    other.destroy();
  });

  it('admin manages the policy but may not decrypt; outsiders get nothing', async () => {
    const admin = client('AKIDADMIN');
    const pol = await admin.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
    expect(JSON.parse(pol.Policy!).Statement).toHaveLength(3);
    await admin.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: pol.Policy! }));
    expect((await admin.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Enabled).toBe(true);
    expect(await errName(admin.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256' })))).toBe('AccessDeniedException');
    expect(await errName(admin.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: '{"Version":"2012-10-17"}' })))).toBe('MalformedPolicyDocumentException');
    const other = client('AKIDOTHER');
    expect(await errName(other.send(new DescribeKeyCommand({ KeyId: keyArn })))).toBe('AccessDeniedException');
    expect(await errName(other.send(new DescribeKeyCommand({ KeyId: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000' })))).toBe('NotFoundException');
    const r = await other.send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    expect(r.Plaintext?.length).toBe(32);
    admin.destroy();
    other.destroy();
  });

  it('rejects unknown access keys and wrong secrets (SigV4 is checked)', async () => {
    expect(await errName(client('AKIDNOBODY').send(new DescribeKeyCommand({ KeyId: keyArn })))).toBe('UnrecognizedClientException');
    expect(await errName(client('AKIDADMIN', 'wrong-secret').send(new DescribeKeyCommand({ KeyId: keyArn })))).toBe('InvalidSignatureException');
  });

  it('rejects stale signatures, the wrong region scope and a body changed after signing', async () => {
    const stale = createKmsClient({
      region: 'us-east-1', endpoint: kms.url.replace('127.0.0.1', 'localhost'), caPem: ca.certPem, dial: loopbackDial().dial, maxAttempts: 1,
      credentials: { get: async () => ({ accessKeyId: 'AKIDADMIN', secretAccessKey: 'admin-secret' }) },
    });
    stale.config.systemClockOffset = -20 * 60 * 1000;
    expect(await errName(stale.send(new DescribeKeyCommand({ KeyId: keyArn })))).toBe('InvalidSignatureException');
    const wrongRegion = createKmsClient({
      region: 'eu-west-1', endpoint: kms.url.replace('127.0.0.1', 'localhost'), caPem: ca.certPem, dial: loopbackDial().dial, maxAttempts: 1,
      credentials: { get: async () => ({ accessKeyId: 'AKIDADMIN', secretAccessKey: 'admin-secret' }) },
    });
    expect(await errName(wrongRegion.send(new DescribeKeyCommand({ KeyId: keyArn })))).toBe('InvalidSignatureException');
    const tamper = client('AKIDADMIN');
    tamper.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { body: string };
        req.body = req.body.replace(keyArn, keyArn.replace(/.$/, (c) => (c === '0' ? '1' : '0')));
        return next(args);
      },
      { step: 'deserialize', name: 'tamperAfterSigning' },
    );
    expect(await errName(tamper.send(new DescribeKeyCommand({ KeyId: keyArn })))).toBe('InvalidSignatureException');
    for (const c of [stale, wrongRegion, tamper]) c.destroy();
  });

  it('rejects a request with no SigV4 header at all, with KMS error shapes', async () => {
    const res = await new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
      const req = https.request(
        `${kms.url}/`,
        { method: 'POST', ca: ca.certPem, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.DescribeKey' } },
        (r) => {
          let body = '';
          r.on('data', (d) => (body += d));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, type: r.headers['x-amzn-errortype'] as string | undefined, body }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ KeyId: keyArn }));
    });
    expect(res.status).toBe(403);
    expect(res.type).toMatch(/^MissingAuthenticationTokenException/);
    expect(JSON.parse(res.body).__type).toBe('MissingAuthenticationTokenException');
  });

  it('refuses a plain-http endpoint in the enclave client', () => {
    expect(() => createKmsClient({ region: 'us-east-1', endpoint: 'http://localhost:1', dial: loopbackDial().dial, credentials: { get: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }) } })).toThrow(/https/);
  });

  it('keeps keys across a restart on the same directory', async () => {
    const admin = client('AKIDADMIN');
    const k = await admin.send(new CreateKeyCommand({}));
    const ct = await admin.send(new EncryptCommand({ KeyId: k.KeyMetadata!.KeyId!, Plaintext: Buffer.from('persist') }));
    admin.destroy();
    await kms.close();
    kms = await startKmsStandin({ dir, trustRootsPem: [], tls, principals, verifyRecipient: fakeVerifier });
    const again = client('AKIDADMIN');
    const pt = await again.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob! }));
    expect(Buffer.from(pt.Plaintext!).toString()).toBe('persist');
    again.destroy();
  });
});
