// Runs on the parent (the `cosigner` CLI). Helps `setup`, `add-user` and `callback-update` take a
// Callback Handler's certificate or public key: read the certificate the handler presents (TLS with
// verification off, only to READ it — nothing is sent and nothing is trusted here), show its
// fingerprints, and let the operator confirm before the enclave pins it. The enclave re-validates
// whatever the CLI passes on.
import tls from 'node:tls';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { CosignerError } from '../../proto/errors.ts';

/** A handler certificate, with what the operator compares against the handler owner's records. */
export interface FetchedCertificate {
  readonly pem: string;
  /** SHA-256 over the DER certificate, `AB:CD:…` (what browsers and openssl show). */
  readonly sha256Fingerprint: string;
  /** Hex SHA-256 of the SubjectPublicKeyInfo: the value the enclave pins. */
  readonly spkiSha256: string;
  readonly subject: string;
  readonly validTo: string;
}

const MAX_PEM_CHARS = 16 * 1024;

function describeCert(cert: X509Certificate): FetchedCertificate {
  return {
    pem: cert.toString(),
    sha256Fingerprint: cert.fingerprint256,
    spkiSha256: createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex'),
    subject: cert.subject,
    validTo: cert.validTo,
  };
}

/**
 * Connects to the handler at `url` (https only), reads the certificate it presents, and closes
 * without sending a byte of application data. Throws ERR_CALLBACK_TLS / ERR_CALLBACK_TIMEOUT /
 * ERR_CONFIG_INVALID.
 *
 * @example
 * const c = await fetchHandlerCertificate('https://handler.example:8443');
 * console.log(`SHA-256 fingerprint ${c.sha256Fingerprint}; pin ${c.spkiSha256}`);
 */
export function fetchHandlerCertificate(url: string, opts: { timeoutMs?: number } = {}): Promise<FetchedCertificate> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new CosignerError('ERR_CONFIG_INVALID', 'callback URL is not a URL'));
  }
  if (u.protocol !== 'https:') return Promise.reject(new CosignerError('ERR_CONFIG_INVALID', 'only an https:// handler has a certificate to fetch'));
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 443;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise<FetchedCertificate>((resolve, reject) => {
    // rejectUnauthorized: false is deliberate and safe here: this only reads the certificate for
    // the operator to check; trust comes from their confirmation, and the enclave pins it.
    const s = tls.connect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), rejectUnauthorized: false });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new CosignerError('ERR_CALLBACK_TIMEOUT', `no TLS handshake with ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CosignerError('ERR_CALLBACK_TLS', `could not read the certificate of ${host}:${port}: ${err.code ?? err.message}`));
    });
    s.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = s.getPeerX509Certificate();
      s.destroy();
      if (!cert) return reject(new CosignerError('ERR_CALLBACK_TLS', `${host}:${port} presented no certificate`));
      resolve(describeCert(cert));
    });
  });
}

/** Parses a pasted or file-read certificate (`certificate.pem`). Throws ERR_CONFIG_INVALID. */
export function readCertificatePem(text: string): FetchedCertificate {
  if (typeof text !== 'string' || text.length > MAX_PEM_CHARS || !text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CosignerError('ERR_CONFIG_INVALID', 'expected a PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  try {
    return describeCert(new X509Certificate(text.trim()));
  } catch {
    throw new CosignerError('ERR_CONFIG_INVALID', 'the certificate could not be read');
  }
}

/**
 * Validates a pasted handler public key: PEM SubjectPublicKeyInfo, RSA ≥ 2048 bits (RS256) or EC
 * P-256 (ES256). Returns it normalised with its SPKI SHA-256 for the confirmation prompt.
 */
export function readPublicKeyPem(text: string): { pem: string; spkiSha256: string; alg: 'RS256' | 'ES256' } {
  if (typeof text !== 'string' || text.length > MAX_PEM_CHARS || !text.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new CosignerError('ERR_CONFIG_INVALID', 'expected a PEM public key (-----BEGIN PUBLIC KEY-----)');
  }
  let key;
  try {
    key = createPublicKey(text.trim());
  } catch {
    throw new CosignerError('ERR_CONFIG_INVALID', 'the public key could not be read');
  }
  const d = key.asymmetricKeyDetails ?? {};
  let alg: 'RS256' | 'ES256';
  if (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048) alg = 'RS256';
  else if (key.asymmetricKeyType === 'ec' && d.namedCurve === 'prime256v1') alg = 'ES256';
  else throw new CosignerError('ERR_CONFIG_INVALID', 'the handler key must be RSA-2048 or larger, or EC P-256');
  const der = key.export({ type: 'spki', format: 'der' });
  return { pem: key.export({ type: 'spki', format: 'pem' }).toString(), spkiSha256: createHash('sha256').update(der).digest('hex'), alg };
}
