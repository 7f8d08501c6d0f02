// Both sides: the one attestation verifier, shared by the `cosigner verify-attestation` CLI, the
// KMS stand-in (local/kms) and the tests. Checks run in a fixed, documented order
// (docs/attestation.md); each failure carries a stable ErrorCode.
import { createHash, verify as cryptoVerify, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
// @peculiar/x509's CommonJS build pulls in tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { CosignerError, type ErrorCode } from '../errors.ts';
import { AWS_NITRO_ROOT_G1_DER, AWS_NITRO_ROOT_G1_PEM } from './aws-root.ts';
import { type AttestationPayload, decodeCoseSign1, decodePayload, equalBytes, PCR_BYTES, sigStructure } from './document.ts';
import type { VerifiedAttestation } from './types.ts';

export { AWS_NITRO_ROOT_G1_PEM } from './aws-root.ts';

/** What a verification expects besides a valid signature and chain. */
export interface VerifyOptions {
  /** Trust anchors (PEM). Default: the pinned AWS Nitro root G1 only. cabundle[0] must equal one. */
  roots?: { pem: string }[];
  /** Instant (ms since epoch) at which every certificate must be valid. Default: Date.now(). */
  at?: number;
  /** PCRs that must match exactly (index → hex, case-insensitive). */
  expectPcrs?: Record<number, string>;
  /** The nonce the document must carry. */
  nonce?: Uint8Array;
  /** The user_data the document must carry. */
  userData?: Uint8Array;
  /** Maximum age of the document's timestamp relative to `at`; also refuses timestamps ahead of `at` by more than {@link MAX_FUTURE_SKEW_MS}. */
  maxAgeMs?: number;
  /** Accept debug-mode documents (PCR0 all zeros). Never in production. */
  allowDebug?: boolean;
}

/** One failed check. */
export interface VerifyCheck {
  code: ErrorCode;
  message: string;
}

/** Result of {@link checkAttestation}: every failure, not just the first. */
export interface CheckResult {
  ok: boolean;
  /** Present only when every check passed. */
  doc?: VerifiedAttestation;
  /** The decoded (unverified!) fields whenever the document parsed; for summaries only. */
  fields?: AttestationPayload;
  failures: VerifyCheck[];
}

/** Clock skew tolerated for a timestamp ahead of `at` when a max age is asked for. */
export const MAX_FUTURE_SKEW_MS = 60_000;

const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
/** basicConstraints and keyUsage: the only extensions the chain checks interpret. */
const HANDLED_EXTENSIONS = new Set(['2.5.29.19', '2.5.29.15']);

interface ParsedCert {
  readonly der: Uint8Array;
  readonly node: NodeX509;
  readonly px: x509.X509Certificate;
}

function parseCert(der: Uint8Array, label: string): ParsedCert {
  try {
    const node = new NodeX509(der);
    // Touch the key now: Node decodes it lazily, and a corrupt key must fail here, typed.
    void node.publicKey;
    const px = new x509.X509Certificate(der);
    return { der, node, px };
  } catch (err) {
    throw new CosignerError('ERR_ATTESTATION_CHAIN', `${label} does not parse as X.509`, { cause: err });
  }
}

// CA certificates repeat across documents (the root, regional and zonal CAs for days, the instance
// CA for a day), and ASN.1 parsing costs milliseconds. Parsed CA certificates and verified CA→CA
// links are cached by the SHA-256 of their DER: both are pure functions of the bytes, so a hit
// can never change a verdict. Validity times are still checked on every call. Leaves are never cached.
const CACHE_LIMIT = 256;
const caCache = new Map<string, ParsedCert>();
const linkCache = new Set<string>();

function derKey(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

function parseCaCert(der: Uint8Array, label: string): ParsedCert {
  const key = derKey(der);
  const hit = caCache.get(key);
  if (hit) return hit;
  const parsed = parseCert(new Uint8Array(der), label);
  if (caCache.size >= CACHE_LIMIT) caCache.clear();
  caCache.set(key, parsed);
  return parsed;
}

/** Drops the verifier's CA caches (benchmarks measure cold verification with it). */
export function clearVerifierCache(): void {
  caCache.clear();
  linkCache.clear();
  rootCache.clear();
}

function signatureOid(c: ParsedCert): string {
  return (c.px as unknown as { asn: { signatureAlgorithm: { algorithm: string } } }).asn.signatureAlgorithm.algorithm;
}

function isP384(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1';
}

const rootCache = new Map<string, ParsedCert>();
function trustedRoots(roots: { pem: string }[] | undefined): ParsedCert[] {
  const list = roots ?? [{ pem: AWS_NITRO_ROOT_G1_PEM }];
  if (list.length === 0) throw new CosignerError('ERR_INVALID_ARGUMENT', 'no trust anchor given');
  return list.map(({ pem }) => {
    let hit = rootCache.get(pem);
    if (!hit) {
      let der: Uint8Array;
      try {
        der = new Uint8Array(new NodeX509(pem).raw);
      } catch (err) {
        throw new CosignerError('ERR_INVALID_ARGUMENT', 'trust anchor is not a PEM certificate', { cause: err });
      }
      hit = parseCert(der, 'trust anchor');
      if (rootCache.size > 16) rootCache.clear();
      rootCache.set(pem, hit);
    }
    return hit;
  });
}

function basicConstraints(c: ParsedCert): x509.BasicConstraintsExtension | null {
  return c.px.getExtension(x509.BasicConstraintsExtension);
}
function keyUsage(c: ParsedCert): x509.KeyUsagesExtension | null {
  return c.px.getExtension(x509.KeyUsagesExtension);
}

/**
 * Chain checks, root first: cabundle[0] is a trusted anchor byte for byte; each certificate is
 * issued and signed (ecdsa-with-SHA384, P-384) by the previous one; every CA has CA:TRUE and
 * keyCertSign and respects its pathLenConstraint; the leaf is not a CA and may sign.
 */
function checkChain(cas: ParsedCert[], roots: ParsedCert[], leaf: ParsedCert): void {
  const fail = (m: string): never => {
    throw new CosignerError('ERR_ATTESTATION_CHAIN', m);
  };
  const first = cas[0] as ParsedCert;
  if (!roots.some((r) => equalBytes(r.der, first.der))) fail('cabundle[0] is not a trusted root');
  const chain = [...cas, leaf];
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i] as ParsedCert;
    const issuer = chain[i === 0 ? 0 : i - 1] as ParsedCert;
    const label = i === chain.length - 1 ? 'leaf' : `cabundle[${i}]`;
    if (signatureOid(c) !== OID_ECDSA_SHA384) fail(`${label} is not signed with ecdsa-with-SHA384`);
    if (!isP384(c.node.publicKey)) fail(`${label} key is not P-384`);
    if (!c.node.checkIssued(issuer.node)) fail(`${label} is not issued by its predecessor`);
    const isCa = i < chain.length - 1;
    const link = isCa ? `${derKey(issuer.der)}:${derKey(c.der)}` : '';
    if (!isCa || !linkCache.has(link)) {
      let sigOk = false;
      try {
        sigOk = c.node.verify(issuer.node.publicKey);
      } catch {
        sigOk = false;
      }
      if (!sigOk) fail(`${label} signature does not verify`);
    }
    // RFC 5280 §4.2: a critical extension this verifier does not process makes the certificate unusable.
    for (const ext of c.px.extensions) if (ext.critical && !HANDLED_EXTENSIONS.has(ext.type)) fail(`${label} has an unhandled critical extension ${ext.type}`);
    const bc = basicConstraints(c);
    const ku = keyUsage(c);
    if (i < chain.length - 1) {
      if (!bc || !bc.ca) fail(`${label} is not a CA`);
      if (!ku || (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) fail(`${label} may not sign certificates`);
      // Number of CA certificates below this one (the leaf excluded) must respect its pathLen.
      const below = chain.length - 2 - i;
      if (bc && bc.pathLength !== undefined && below > bc.pathLength) fail(`${label} path length constraint violated`);
      if (linkCache.size >= CACHE_LIMIT) linkCache.clear();
      linkCache.add(link);
    } else {
      if (bc && bc.ca) fail('leaf must not be a CA');
      if (ku && (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) fail('leaf may not sign');
    }
  }
}

function checkValidity(chain: ParsedCert[], at: number): void {
  for (const [i, c] of chain.entries()) {
    const nb = c.px.notBefore.getTime();
    const na = c.px.notAfter.getTime();
    if (!(at >= nb && at <= na)) {
      const label = i === chain.length - 1 ? 'leaf' : `cabundle[${i}]`;
      throw new CosignerError('ERR_ATTESTATION_EXPIRED', `${label} not valid at ${new Date(at).toISOString()} (valid ${c.px.notBefore.toISOString()} … ${c.px.notAfter.toISOString()})`);
    }
  }
}

function normalizeExpectedPcrs(expect: Record<number, string> | undefined): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const [k, hex] of Object.entries(expect ?? {})) {
    const idx = Number(k);
    if (!Number.isInteger(idx) || idx < 0 || idx > 31) throw new CosignerError('ERR_INVALID_ARGUMENT', `expected PCR index ${k} outside 0..31`);
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]*$/.test(hex) || hex.length !== PCR_BYTES * 2) throw new CosignerError('ERR_INVALID_ARGUMENT', `expected PCR${idx} must be ${PCR_BYTES * 2} hex digits`);
    out.set(idx, new Uint8Array(Buffer.from(hex, 'hex')));
  }
  return out;
}

/** True when PCR0 is 48 zero bytes: the document comes from a debug-mode enclave. */
export function isDebugDocument(pcrs: ReadonlyMap<number, Uint8Array>): boolean {
  const p0 = pcrs.get(0);
  return p0 !== undefined && p0.every((b) => b === 0);
}

/**
 * Runs every check and collects all failures (for `verify-attestation --json`). A malformed
 * document stops at the first failure; later checks still run after a signature or chain failure
 * so the report is complete. Invalid options throw ERR_INVALID_ARGUMENT.
 */
export function checkAttestation(doc: Uint8Array, opts: VerifyOptions = {}): CheckResult {
  const failures: VerifyCheck[] = [];
  // Any unexpected exception inside a step still fails that step (fail closed), with its code.
  const record = (fn: () => void, fallback: ErrorCode = 'ERR_ATTESTATION_MALFORMED'): boolean => {
    try {
      fn();
      return true;
    } catch (err) {
      if (err instanceof CosignerError) failures.push({ code: err.code, message: err.message });
      else failures.push({ code: fallback, message: err instanceof Error ? err.message : 'verification step failed' });
      return false;
    }
  };
  const at = opts.at ?? Date.now();
  if (!Number.isFinite(at)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'at must be a finite time in ms');
  if (opts.maxAgeMs !== undefined && !(Number.isFinite(opts.maxAgeMs) && opts.maxAgeMs >= 0)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'maxAgeMs must be ≥ 0');
  const roots = trustedRoots(opts.roots);
  const expectPcrs = normalizeExpectedPcrs(opts.expectPcrs);

  // 1. Structure.
  let payload: AttestationPayload | undefined;
  let cose: ReturnType<typeof decodeCoseSign1> | undefined;
  if (!record(() => {
    cose = decodeCoseSign1(doc);
    payload = decodePayload(cose.payload);
  }) || !cose || !payload) return { ok: false, failures };
  const p = payload;
  const c = cose;

  // 2. Signature by the leaf key over the ORIGINAL protected and payload bytes.
  let leaf: ParsedCert | undefined;
  let cas: ParsedCert[] | undefined;
  record(() => {
    leaf = parseCert(p.certificate, 'leaf');
    cas = p.cabundle.map((d, i) => parseCaCert(d, `cabundle[${i}]`));
  }, 'ERR_ATTESTATION_CHAIN');
  if (leaf) {
    const l = leaf;
    record(() => {
      if (!isP384(l.node.publicKey)) throw new CosignerError('ERR_ATTESTATION_SIGNATURE', 'leaf key is not P-384');
      const ok = cryptoVerify('sha384', sigStructure(c.protectedBytes, c.payload), { key: l.node.publicKey, dsaEncoding: 'ieee-p1363' }, c.signature);
      if (!ok) throw new CosignerError('ERR_ATTESTATION_SIGNATURE', 'COSE_Sign1 signature does not verify with the leaf key');
    }, 'ERR_ATTESTATION_SIGNATURE');
  }
  // 3. Chain to a trusted root; 4. validity of every certificate at `at`.
  if (leaf && cas) {
    const l = leaf;
    const cs = cas;
    record(() => checkChain(cs, roots, l), 'ERR_ATTESTATION_CHAIN');
    record(() => checkValidity([...cs, l], at), 'ERR_ATTESTATION_EXPIRED');
  }

  // 5. Debug mode.
  const debug = isDebugDocument(p.pcrs);
  if (debug && !opts.allowDebug) failures.push({ code: 'ERR_ATTESTATION_DEBUG', message: 'debug-mode document (PCR0 is all zeros)' });
  // 6. Expected PCRs.
  for (const [idx, want] of expectPcrs) {
    const got = p.pcrs.get(idx);
    if (!got || !equalBytes(got, want)) failures.push({ code: 'ERR_ATTESTATION_PCR_MISMATCH', message: `PCR${idx} is ${got ? Buffer.from(got).toString('hex') : 'absent'}, expected ${Buffer.from(want).toString('hex')}` });
  }
  // 7. Nonce and user_data.
  if (opts.nonce !== undefined && (!p.nonce || !equalBytes(p.nonce, opts.nonce))) failures.push({ code: 'ERR_ATTESTATION_NONCE', message: p.nonce ? 'nonce differs' : 'document carries no nonce' });
  if (opts.userData !== undefined && (!p.userData || !equalBytes(p.userData, opts.userData))) failures.push({ code: 'ERR_ATTESTATION_USER_DATA', message: p.userData ? 'user_data differs' : 'document carries no user_data' });
  // 8. Freshness.
  if (opts.maxAgeMs !== undefined) {
    if (at - p.timestamp > opts.maxAgeMs) failures.push({ code: 'ERR_ATTESTATION_STALE', message: `document is ${at - p.timestamp} ms old, max ${opts.maxAgeMs}` });
    else if (p.timestamp - at > MAX_FUTURE_SKEW_MS) failures.push({ code: 'ERR_ATTESTATION_STALE', message: `document timestamp is ${p.timestamp - at} ms in the future` });
  }

  if (failures.length > 0) return { ok: false, fields: p, failures };
  return {
    ok: true,
    fields: p,
    failures,
    doc: {
      moduleId: p.moduleId,
      timestamp: p.timestamp,
      digest: 'SHA384',
      pcrs: p.pcrs,
      certificate: p.certificate,
      cabundle: p.cabundle,
      publicKey: p.publicKey,
      userData: p.userData,
      nonce: p.nonce,
      debug,
    },
  };
}

/**
 * Verifies an attestation document and returns its fields; throws the FIRST failed check as a
 * CosignerError (ERR_ATTESTATION_MALFORMED, _SIGNATURE, _CHAIN, _EXPIRED, _DEBUG, _PCR_MISMATCH,
 * _NONCE, _USER_DATA, _STALE).
 *
 * @example
 * const att = verifyAttestation(doc, { nonce, expectPcrs: { 0: pcr0Hex }, maxAgeMs: 5 * 60_000 });
 */
export function verifyAttestation(doc: Uint8Array, opts: VerifyOptions = {}): VerifiedAttestation {
  const r = checkAttestation(doc, opts);
  if (r.ok && r.doc) return r.doc;
  const first = r.failures[0] ?? { code: 'ERR_ATTESTATION_MALFORMED' as const, message: 'verification failed' };
  throw new CosignerError(first.code, first.message, r.failures.length > 1 ? { details: { failures: r.failures.map((f) => f.code).join(',') } } : {});
}

/** SHA-256 (hex) of a DER blob, e.g. a document's public_key, for summaries and logs. */
export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The pinned AWS root's DER, re-exported for tests that tamper with a cabundle. */
export const AWS_ROOT_DER = AWS_NITRO_ROOT_G1_DER;
