// Local mode only (the enclave child process of `make demo`, the tests, the KMS stand-in): the
// development attestation authority. It issues documents in exactly the NSM's format (COSE_Sign1,
// ES384, same payload fields) under its own P-384 chain root → intermediate → leaf, so the
// production verifier runs unchanged against them — with the dev root as trust anchor instead of
// the AWS root. A dev document can never pass a verifier that trusts only the AWS root.
import { createPrivateKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { CosignerError } from '../../proto/errors.ts';
import { buildDocument } from '../../proto/attestation/document.ts';
import { checkAttestRequest, MAX_RANDOM_BYTES } from '../attestation/request-limits.ts';
import { extendFromZero, measureSections, devSections, PCR_LENGTH } from '../../proto/attestation/measure.ts';
import type { AttestRequest, Attestor, PcrDescription } from '../../proto/attestation/types.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const DAY = 24 * 60 * 60 * 1000;
/** Root lifetime (like AWS's root: decades). */
export const DEV_ROOT_LIFETIME_MS = 30 * 365 * DAY;
/** Intermediate lifetime. */
export const DEV_INTERMEDIATE_LIFETIME_MS = 10 * 365 * DAY;
/** Leaf lifetime: longer than AWS's 3 h because the leaf is persisted, still short. */
export const DEV_LEAF_LIFETIME_MS = 7 * DAY;
/** A leaf with less than this left is re-issued before it signs. */
export const DEV_LEAF_RENEW_MARGIN_MS = 1 * DAY;
/** Back-dating of notBefore, for clock skew between processes. */
const BACKDATE_MS = 5 * 60 * 1000;

const EC_GEN = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const EC_SIGN = { name: 'ECDSA', hash: 'SHA-384' } as const;

/** File names inside the authority's directory. */
export const DEV_CA_FILES = {
  rootCert: 'root.crt.pem',
  rootKey: 'root.key.pem',
  intermediateCert: 'intermediate.crt.pem',
  intermediateKey: 'intermediate.key.pem',
  leafCert: 'leaf.crt.pem',
  leafKey: 'leaf.key.pem',
} as const;

interface Level {
  readonly cert: x509.X509Certificate;
  readonly certPem: string;
  readonly der: Uint8Array;
  readonly keyPem: string;
  readonly key: KeyObject;
  readonly cryptoKey: CryptoKey;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function importLevel(certPem: string, keyPem: string): Promise<Level> {
  const cert = new x509.X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  const cryptoKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_GEN, false, ['sign']);
  // A key file that does not belong to its certificate (torn write, two creators racing) is refused.
  const probe = randomBytes(32);
  const sig = cryptoSign('sha384', probe, { key, dsaEncoding: 'ieee-p1363' });
  const node = new NodeX509(certPem);
  if (!cryptoVerify('sha384', probe, { key: node.publicKey, dsaEncoding: 'ieee-p1363' }, sig)) {
    throw new CosignerError('ERR_CONFIG_INVALID', 'development CA: a key file does not match its certificate');
  }
  return { cert, certPem, der: new Uint8Array(node.raw), keyPem, key, cryptoKey };
}

async function issue(opts: {
  subject: string;
  issuer: Level | null;
  ca: boolean;
  pathLength?: number;
  notBefore: Date;
  lifetimeMs: number;
}): Promise<Level> {
  const keys = (await webcrypto.subtle.generateKey(EC_GEN, true, ['sign', 'verify'])) as CryptoKeyPair;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(opts.ca, opts.pathLength, true),
    new x509.KeyUsagesExtension(
      opts.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
  ];
  const common = {
    serialNumber: serial(),
    notBefore: opts.notBefore,
    notAfter: new Date(opts.notBefore.getTime() + opts.lifetimeMs),
    signingAlgorithm: EC_SIGN,
    extensions,
  };
  const cert = opts.issuer
    ? await x509.X509CertificateGenerator.create({ ...common, subject: opts.subject, issuer: opts.issuer.cert.subject, publicKey: keys.publicKey as never, signingKey: opts.issuer.cryptoKey as never })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: opts.subject, keys: keys as never });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return importLevel(cert.toString('pem'), keyPem);
}

/** Writes a file atomically (temp file, fsync, rename) with mode 0600. Throws ERR_STORAGE. */
async function writeAtomic600(path: string, data: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    throw new CosignerError(code === 'ENOSPC' ? 'ERR_DISK_FULL' : 'ERR_STORAGE', `development CA: cannot write ${path}`, { cause: err });
  }
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CosignerError('ERR_STORAGE', `development CA: cannot read ${path}`, { cause: err });
  }
}

/** Options of {@link DevAuthority.loadOrCreate} and {@link DevAuthority.createEphemeral}. */
export interface DevAuthorityOptions {
  /** Clock in ms; defaults to Date.now. */
  now?: () => number;
}

/**
 * The development attestation authority: a persisted P-384 chain root → intermediate → leaf.
 *
 * @example
 * const authority = await DevAuthority.loadOrCreate(join(localStackDir, 'dev-ca'));
 * verifyAttestation(doc, { roots: [{ pem: authority.rootPem }] });
 */
export class DevAuthority {
  private leaf: Level;
  private renewing: Promise<Level> | null = null;

  private constructor(
    private readonly root: Level,
    private readonly intermediate: Level,
    leaf: Level,
    private readonly dir: string | null,
    private readonly now: () => number,
  ) {
    this.leaf = leaf;
  }

  /**
   * Loads the authority from `dir`, creating root, intermediate and leaf on first use (PEM
   * certificates and PKCS#8 keys, mode 0600, written atomically) and re-issuing the leaf when
   * less than {@link DEV_LEAF_RENEW_MARGIN_MS} of it is left. One process per directory: two
   * processes creating the same directory at once may leave a mismatched pair, which the next load
   * refuses with ERR_CONFIG_INVALID rather than using.
   */
  static async loadOrCreate(dir: string, opts: DevAuthorityOptions = {}): Promise<DevAuthority> {
    const now = opts.now ?? Date.now;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new CosignerError('ERR_STORAGE', `development CA: cannot create ${dir}`, { cause: err });
    }
    const f = (n: keyof typeof DEV_CA_FILES): string => join(dir, DEV_CA_FILES[n]);
    const rc = await readOptional(f('rootCert'));
    const rk = await readOptional(f('rootKey'));
    const ic = await readOptional(f('intermediateCert'));
    const ik = await readOptional(f('intermediateKey'));
    const lc = await readOptional(f('leafCert'));
    const lk = await readOptional(f('leafKey'));
    let root: Level;
    let intermediate: Level;
    if (rc === null && rk === null) {
      const notBefore = new Date(now() - BACKDATE_MS);
      root = await issue({ subject: 'CN=nitro-cosigner development root, O=nitro-cosigner dev', issuer: null, ca: true, pathLength: 1, notBefore, lifetimeMs: DEV_ROOT_LIFETIME_MS });
      intermediate = await issue({ subject: 'CN=nitro-cosigner development intermediate, O=nitro-cosigner dev', issuer: root, ca: true, pathLength: 0, notBefore, lifetimeMs: DEV_INTERMEDIATE_LIFETIME_MS });
      // Keys before certificates: a crash in between leaves no certificate without its key.
      await writeAtomic600(f('rootKey'), root.keyPem);
      await writeAtomic600(f('rootCert'), root.certPem);
      await writeAtomic600(f('intermediateKey'), intermediate.keyPem);
      await writeAtomic600(f('intermediateCert'), intermediate.certPem);
    } else {
      if (rc === null || rk === null || ic === null || ik === null) throw new CosignerError('ERR_CONFIG_INVALID', `development CA in ${dir} is incomplete; remove the directory to start over`);
      try {
        root = await importLevel(rc, rk);
        intermediate = await importLevel(ic, ik);
      } catch (err) {
        if (err instanceof CosignerError) throw err;
        throw new CosignerError('ERR_CONFIG_INVALID', `development CA in ${dir} does not parse`, { cause: err });
      }
      if (!(await intermediate.cert.verify({ publicKey: root.cert.publicKey, signatureOnly: true }))) {
        throw new CosignerError('ERR_CONFIG_INVALID', 'development CA: intermediate not signed by root');
      }
    }
    let leaf: Level | null = null;
    if (lc !== null && lk !== null) {
      try {
        leaf = await importLevel(lc, lk);
        if (!(await leaf.cert.verify({ publicKey: intermediate.cert.publicKey, signatureOnly: true }))) leaf = null;
      } catch {
        leaf = null; // a broken leaf is simply re-issued
      }
    }
    const authority = new DevAuthority(root, intermediate, leaf ?? (await issueLeaf(intermediate, now())), dir, now);
    if (!leaf) await authority.persistLeaf();
    await authority.currentLeaf();
    return authority;
  }

  /** An in-memory authority (tests, benchmarks): nothing is written. */
  static async createEphemeral(opts: DevAuthorityOptions = {}): Promise<DevAuthority> {
    const now = opts.now ?? Date.now;
    const notBefore = new Date(now() - BACKDATE_MS);
    const root = await issue({ subject: 'CN=nitro-cosigner ephemeral development root', issuer: null, ca: true, pathLength: 1, notBefore, lifetimeMs: DEV_ROOT_LIFETIME_MS });
    const intermediate = await issue({ subject: 'CN=nitro-cosigner ephemeral development intermediate', issuer: root, ca: true, pathLength: 0, notBefore, lifetimeMs: DEV_INTERMEDIATE_LIFETIME_MS });
    return new DevAuthority(root, intermediate, await issueLeaf(intermediate, now()), null, now);
  }

  /** The root certificate (PEM): the trust anchor a verifier of dev documents is given. */
  get rootPem(): string {
    return this.root.certPem;
  }

  /** cabundle as the NSM orders it: root first. */
  get cabundle(): readonly Uint8Array[] {
    return [this.root.der, this.intermediate.der];
  }

  /** The leaf valid now for at least the renewal margin, re-issued (and persisted) if needed. */
  async currentLeaf(): Promise<{ der: Uint8Array; key: KeyObject; notAfter: Date }> {
    const t = this.now();
    if (this.leaf.cert.notAfter.getTime() - t < DEV_LEAF_RENEW_MARGIN_MS || this.leaf.cert.notBefore.getTime() > t) {
      this.renewing ??= (async () => {
        try {
          const next = await issueLeaf(this.intermediate, t);
          this.leaf = next;
          await this.persistLeaf();
          return next;
        } finally {
          this.renewing = null;
        }
      })();
      await this.renewing;
    }
    return { der: this.leaf.der, key: this.leaf.key, notAfter: this.leaf.cert.notAfter };
  }

  private async persistLeaf(): Promise<void> {
    if (!this.dir) return;
    await writeAtomic600(join(this.dir, DEV_CA_FILES.leafKey), this.leaf.keyPem);
    await writeAtomic600(join(this.dir, DEV_CA_FILES.leafCert), this.leaf.certPem);
  }
}

function issueLeaf(intermediate: Level, now: number): Promise<Level> {
  return issue({
    subject: 'CN=nitro-cosigner development enclave, O=nitro-cosigner dev',
    issuer: intermediate,
    ca: false,
    notBefore: new Date(now - BACKDATE_MS),
    lifetimeMs: DEV_LEAF_LIFETIME_MS,
  });
}

/** Options of {@link DevAttestor}. Give `bundleBytes` (measured) or explicit `pcrs`. */
export interface DevAttestorOptions {
  readonly authority: DevAuthority;
  /** The enclave bundle whose measurement becomes PCR0/1/2 (see measure.ts, measureBundle). */
  readonly bundleBytes?: Uint8Array;
  /** Explicit PCR values (index → 48 bytes), overriding the measured ones. */
  readonly pcrs?: ReadonlyMap<number, Uint8Array>;
  /** Parent instance id; PCR4 = SHA-384(zeros ‖ instanceId), module_id starts with it. */
  readonly instanceId?: string;
  /** Parent IAM role ARN; PCR3 = SHA-384(zeros ‖ roleArn). */
  readonly roleArn?: string;
  /** Debug mode: PCR0, PCR1, PCR2 and PCR8 are zeros, as on a real debug-mode enclave. */
  readonly debug?: boolean;
  /** Clock in ms; defaults to Date.now. */
  readonly now?: () => number;
}

/** Default instance id of local mode. */
export const DEV_INSTANCE_ID = 'i-00000000000000000';
/** Default parent role of local mode. */
export const DEV_ROLE_ARN = 'arn:aws:iam::000000000000:role/nitro-cosigner-dev';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The development {@link Attestor}: same document format as the NSM, signed by a {@link DevAuthority}. */
export class DevAttestor implements Attestor {
  readonly mode = 'dev' as const;
  /** module_id of every document from this attestor (`<instance id>-enc<16 hex>`, like nitro-cli's EnclaveID). */
  readonly moduleId: string;
  private readonly pcrs: Map<number, Uint8Array>;
  private readonly now: () => number;

  constructor(private readonly opts: DevAttestorOptions) {
    const instanceId = opts.instanceId ?? DEV_INSTANCE_ID;
    if (!/^[A-Za-z0-9-]{1,64}$/.test(instanceId)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'instanceId must be 1..64 of [A-Za-z0-9-]');
    this.now = opts.now ?? Date.now;
    this.moduleId = `${instanceId}-enc${randomBytes(8).toString('hex')}`;
    const zero = new Uint8Array(PCR_LENGTH);
    const pcrs = new Map<number, Uint8Array>();
    for (let i = 0; i < 16; i++) pcrs.set(i, zero);
    if (opts.bundleBytes) {
      const m = measureSections(devSections(opts.bundleBytes));
      pcrs.set(0, m.pcr0).set(1, m.pcr1).set(2, m.pcr2);
    }
    pcrs.set(3, extendFromZero(utf8(opts.roleArn ?? DEV_ROLE_ARN)));
    pcrs.set(4, extendFromZero(utf8(instanceId)));
    for (const [i, v] of opts.pcrs ?? []) {
      if (!Number.isInteger(i) || i < 0 || i > 31 || v.length !== PCR_LENGTH) throw new CosignerError('ERR_INVALID_ARGUMENT', `PCR${i} must be ${PCR_LENGTH} bytes at index 0..31`);
      pcrs.set(i, new Uint8Array(v));
    }
    if (!opts.bundleBytes && !opts.pcrs && !opts.debug) throw new CosignerError('ERR_INVALID_ARGUMENT', 'DevAttestor needs bundleBytes or pcrs');
    if (opts.debug) for (const i of [0, 1, 2, 8]) pcrs.set(i, zero);
    this.pcrs = pcrs;
  }

  /** PCRs this attestor puts in its documents (copies). */
  get pcrValues(): ReadonlyMap<number, Uint8Array> {
    return new Map([...this.pcrs].map(([k, v]) => [k, new Uint8Array(v)]));
  }

  async attest(req: AttestRequest): Promise<Uint8Array> {
    checkAttestRequest(req);
    const leaf = await this.opts.authority.currentLeaf();
    return buildDocument(
      {
        moduleId: this.moduleId,
        digest: 'SHA384',
        timestamp: this.now(),
        pcrs: this.pcrs,
        certificate: leaf.der,
        cabundle: this.opts.authority.cabundle,
        publicKey: req.publicKey ?? null,
        userData: req.userData ?? null,
        nonce: req.nonce ?? null,
      },
      (tbs) => new Uint8Array(cryptoSign('sha384', tbs, { key: leaf.key, dsaEncoding: 'ieee-p1363' })),
    );
  }

  async getRandom(length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 1 || length > MAX_RANDOM_BYTES) throw new CosignerError('ERR_INVALID_ARGUMENT', `random length must be 1..${MAX_RANDOM_BYTES}`);
    return new Uint8Array(randomBytes(length));
  }

  async describePcr(index: number): Promise<PcrDescription> {
    if (!Number.isInteger(index) || index < 0 || index > 31) throw new CosignerError('ERR_NSM', 'PCR index outside 0..31', { details: { nsmError: 'InvalidIndex' } });
    return { index, locked: index < 16, value: new Uint8Array(this.pcrs.get(index) ?? new Uint8Array(PCR_LENGTH)) };
  }
}
