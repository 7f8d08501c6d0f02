// CA / pathLen / keyUsage / algorithm rules of the verifier, with chains built here on purpose wrong.
import { sign as cryptoSign, webcrypto, createPrivateKey } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDocument } from '../../../proto/attestation/document.ts';
import { checkAttestation } from '../../../proto/attestation/verify.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
type Alg = 'P-384' | 'P-256';

interface Node {
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
  pem: string;
  der: Uint8Array;
}

let n = 0;
async function make(opts: { issuer?: Node; ca: boolean; pathLength?: number; usages?: x509.KeyUsageFlags; curve?: Alg; hash?: 'SHA-384' | 'SHA-256'; noBasic?: boolean; criticalEku?: boolean }): Promise<Node> {
  const curve = opts.curve ?? 'P-384';
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const name = `CN=test ${++n}`;
  const extensions: x509.Extension[] = [];
  if (!opts.noBasic) extensions.push(new x509.BasicConstraintsExtension(opts.ca, opts.pathLength, true));
  if (opts.criticalEku) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], true));
  extensions.push(new x509.KeyUsagesExtension(opts.usages ?? (opts.ca ? x509.KeyUsageFlags.keyCertSign : x509.KeyUsageFlags.digitalSignature), true));
  const common = { serialNumber: (0x10 + n).toString(16), notBefore: new Date(NOW - DAY), notAfter: new Date(NOW + DAY), signingAlgorithm: { name: 'ECDSA', hash: opts.hash ?? 'SHA-384' }, extensions };
  const cert = opts.issuer
    ? await x509.X509CertificateGenerator.create({ ...common, subject: name, issuer: opts.issuer.cert.subject, publicKey: keys.publicKey as never, signingKey: opts.issuer.keys.privateKey as never })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name, keys: keys as never });
  return { cert, keys, pem: cert.toString('pem'), der: new Uint8Array(cert.rawData) };
}

async function docFor(leaf: Node, cabundle: Node[]): Promise<Uint8Array> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leaf.keys.privateKey);
  const key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  return buildDocument(
    { moduleId: 'i-1-enc1', digest: 'SHA384', timestamp: NOW, pcrs: new Map([[0, new Uint8Array(48).fill(1)]]), certificate: leaf.der, cabundle: cabundle.map((c) => c.der), publicKey: null, userData: null, nonce: null },
    (tbs) => new Uint8Array(cryptoSign('sha384', tbs, { key, dsaEncoding: 'ieee-p1363' })),
  );
}

const failuresOf = (doc: Uint8Array, root: Node): string[] => checkAttestation(doc, { roots: [{ pem: root.pem }], at: NOW }).failures.map((f) => f.code);

describe('chain rules', () => {
  let root: Node;
  let inter: Node;
  beforeAll(async () => {
    root = await make({ ca: true, pathLength: 1 });
    inter = await make({ issuer: root, ca: true, pathLength: 0 });
  });

  it('a well-formed chain passes (control)', async () => {
    const leaf = await make({ issuer: inter, ca: false });
    expect(failuresOf(await docFor(leaf, [root, inter]), root)).toEqual([]);
  });

  it('refuses a missing intermediate, a reordered bundle, a foreign root', async () => {
    const leaf = await make({ issuer: inter, ca: false });
    expect(failuresOf(await docFor(leaf, [root]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
    expect(failuresOf(await docFor(leaf, [inter, root]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
    const other = await make({ ca: true, pathLength: 1 });
    expect(failuresOf(await docFor(leaf, [root, inter]), other)).toEqual(['ERR_ATTESTATION_CHAIN']);
  });

  it('refuses a path longer than a pathLenConstraint allows', async () => {
    const sub = await make({ issuer: inter, ca: true }); // inter has pathLen 0: no CA below it
    const leaf = await make({ issuer: sub, ca: false });
    expect(failuresOf(await docFor(leaf, [root, inter, sub]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
  });

  it('refuses a CA without keyCertSign and an issuer without CA:TRUE', async () => {
    const noSign = await make({ issuer: root, ca: true, pathLength: 0, usages: x509.KeyUsageFlags.digitalSignature });
    expect(failuresOf(await docFor(await make({ issuer: noSign, ca: false }), [root, noSign]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
    const notCa = await make({ issuer: root, ca: false, usages: x509.KeyUsageFlags.keyCertSign });
    expect(failuresOf(await docFor(await make({ issuer: notCa, ca: false }), [root, notCa]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
    const noBasic = await make({ issuer: root, ca: true, noBasic: true, usages: x509.KeyUsageFlags.keyCertSign });
    expect(failuresOf(await docFor(await make({ issuer: noBasic, ca: false }), [root, noBasic]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
  });

  it('refuses a leaf that is a CA or may not sign', async () => {
    const caLeaf = await make({ issuer: inter, ca: true, pathLength: 0 });
    expect(failuresOf(await docFor(caLeaf, [root, inter]), root)).toContain('ERR_ATTESTATION_CHAIN');
    const encOnly = await make({ issuer: inter, ca: false, usages: x509.KeyUsageFlags.keyAgreement });
    expect(failuresOf(await docFor(encOnly, [root, inter]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
  });

  it('refuses a certificate with a critical extension it does not process', async () => {
    const leaf = await make({ issuer: inter, ca: false, criticalEku: true });
    expect(failuresOf(await docFor(leaf, [root, inter]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
  });

  it('refuses ecdsa-with-SHA256 certificates', async () => {
    const inter256 = await make({ issuer: root, ca: true, pathLength: 0, hash: 'SHA-256' });
    expect(failuresOf(await docFor(await make({ issuer: inter256, ca: false }), [root, inter256]), root)).toEqual(['ERR_ATTESTATION_CHAIN']);
  });

  it('refuses a P-256 leaf (signature and chain)', async () => {
    const leaf = await make({ issuer: inter, ca: false, curve: 'P-256' });
    // The P-256 key cannot even produce the 96-byte ES384 signature: sign with a P-384 stand-in.
    const stand = await make({ issuer: inter, ca: false });
    const doc = await docFor({ ...stand, der: leaf.der, cert: leaf.cert, pem: leaf.pem }, [root, inter]);
    const f = failuresOf(doc, root);
    expect(f).toContain('ERR_ATTESTATION_SIGNATURE');
    expect(f).toContain('ERR_ATTESTATION_CHAIN');
  });

  it('refuses a certificate outside its validity at the chosen instant', async () => {
    const leaf = await make({ issuer: inter, ca: false });
    const doc = await docFor(leaf, [root, inter]);
    expect(checkAttestation(doc, { roots: [{ pem: root.pem }], at: NOW + 2 * DAY }).failures.map((f) => f.code)).toEqual(['ERR_ATTESTATION_EXPIRED']);
    expect(checkAttestation(doc, { roots: [{ pem: root.pem }], at: NOW - 2 * DAY }).failures.map((f) => f.code)).toEqual(['ERR_ATTESTATION_EXPIRED']);
  });
});
