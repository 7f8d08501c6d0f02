// Local stand-ins only (never in the enclave image): a certificate authority for the loopback
// servers that play KMS, the coordinator and the Callback Handler. TLS still terminates in the
// enclave in local mode; the enclave simply trusts this CA instead of the system store.
import { webcrypto, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { writeFileAtomic } from '../parent/storage/write-file-atomic.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 60 * 60 * 1000;

export interface IssuedCert {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CertOptions {
  readonly validityMs?: number;
  readonly notBefore?: Date;
}

export interface LocalCa {
  readonly certPem: string;
  issueServerCert(names?: string[], opts?: CertOptions): Promise<IssuedCert>;
}

const DEFAULT_NAMES = ['localhost', '127.0.0.1', '::1'];

function serial(): string {
  // Positive 128-bit serial (leading byte below 0x80).
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function sanEntries(names: string[]): x509.JsonGeneralName[] {
  return names.map((n) => (/^[0-9.]+$/.test(n) || n.includes(':') ? { type: 'ip', value: n } : { type: 'dns', value: n }));
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
}

async function leafFor(
  names: string[],
  issuer: { cert: x509.X509Certificate; key: CryptoKey } | null,
  opts: CertOptions,
): Promise<IssuedCert> {
  const keys = await generateKeys();
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + (opts.validityMs ?? 30 * DAY));
  const subject = `CN=${names[0] ?? 'localhost'}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer ? issuer.cert.subject : subject,
    notBefore,
    notAfter,
    signingAlgorithm: EC_ALG,
    publicKey: keys.publicKey,
    signingKey: issuer ? issuer.key : keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sanEntries(names)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

class Authority implements LocalCa {
  constructor(
    private readonly cert: x509.X509Certificate,
    private readonly key: CryptoKey,
  ) {}

  get certPem(): string {
    return this.cert.toString('pem');
  }

  issueServerCert(names: string[] = DEFAULT_NAMES, opts: CertOptions = {}): Promise<IssuedCert> {
    return leafFor(names, { cert: this.cert, key: this.key }, opts);
  }
}

async function createRoot(name: string): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 3650 * DAY),
    signingAlgorithm: EC_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

/** An in-memory CA for one test. */
export async function createEphemeralCa(name = 'nitro-cosigner test CA'): Promise<LocalCa> {
  const { cert, keys } = await createRoot(name);
  return new Authority(cert, keys.privateKey);
}

/**
 * The local stack's CA, created once in `dir` (ca.pem, ca.key with mode 0600) and reused, so the
 * enclave's trust anchor stays stable across `make demo` runs.
 */
export async function loadOrCreateLocalCa(dir: string): Promise<LocalCa> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, 'ca.pem');
  const keyPath = join(dir, 'ca.key');
  try {
    const [certPem, kPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    const cert = new x509.X509Certificate(certPem);
    const key = (await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(kPem), EC_ALG, false, [
      'sign',
    ])) as unknown as CryptoKey;
    if (cert.notAfter.getTime() > Date.now() + DAY) return new Authority(cert, key);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { cert, keys } = await createRoot('nitro-cosigner local CA');
  await writeFileAtomic(keyPath, await keyPem(keys.privateKey), 0o600);
  await writeFileAtomic(certPath, cert.toString('pem'), 0o644);
  return new Authority(cert, keys.privateKey);
}

/** A self-signed server certificate: what root-CA mode must refuse. */
export function selfSignedCert(names: string[] = DEFAULT_NAMES, opts: CertOptions = {}): Promise<IssuedCert> {
  return leafFor(names, null, opts);
}

