// Both sides of the coordinator link. Attested identity: after the welcome the co-signer's first
// request is `attest {document}`, a fresh attestation document whose nonce is the welcome's
// serverNonce and whose user_data is the co-signer identity (proto/attestation/identity.ts); before
// `pair.register` it asks `pair.challenge {}` → `{nonce}` and attaches a document with that nonce.
// A coordinator accepts a connection or a pairing only from an enclave it has just attested:
// signed by the configured root, running an allowed build (PCR0/1/2), holding the hello's auth key,
// set up with this coordinator's key. A process outside an enclave, with a stolen pairing token and
// keys of its own, cannot produce such a document.
import { createHash, type KeyObject } from 'node:crypto';
import { CosignerError } from '../errors.ts';
import { parseIdentityUserData, type ParsedIdentity } from '../attestation/identity.ts';
import { checkAttestation } from '../attestation/verify.ts';
import { obj } from './messages.ts';

/** Maximum age of a hello or pairing document (the nonce is fresh anyway; this bounds the clock). */
export const ATTESTATION_MAX_AGE_MS = 5 * 60_000;
/** Lifetime of a pair.challenge nonce. */
export const PAIR_CHALLENGE_TTL_MS = 60_000;
/** Bound on a base64 document (documents are a few KiB). */
const MAX_DOCUMENT_B64 = 24 * 1024;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** One allowed enclave build: the hex SHA-384 PCRs of its image. */
export interface Measurements {
  readonly PCR0: string;
  readonly PCR1: string;
  readonly PCR2: string;
}

/** What the coordinator trusts: the attestation root(s) and the builds it accepts. */
export interface AttestationPolicy {
  /** PEM roots (the AWS Nitro root in production, the development authority's root in local mode). */
  readonly roots: readonly { pem: string }[];
  readonly allowedMeasurements: readonly Measurements[];
  /** Accept debug-mode documents (the development authority); never in production. */
  readonly allowDebug?: boolean;
}

/** Parses an `attest` body: the document bytes. */
export function parseAttestBody(v: unknown): Uint8Array {
  const o = obj(v, 'attest', ['document']);
  return decodeDocument(o.document);
}

/** A base64 document from a message field (attest.document, pair.register.attestation). */
export function decodeDocument(v: unknown): Uint8Array {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_DOCUMENT_B64 || !B64.test(v)) refuse('attestation document missing or not base64');
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function refuse(message: string, details?: Record<string, string | number | boolean>): never {
  throw new CosignerError('ERR_ATTESTATION_REFUSED', message, details ? { details } : undefined);
}

function spkiSha(k: KeyObject): string {
  return createHash('sha256').update(k.export({ format: 'der', type: 'spki' })).digest('hex');
}

/**
 * Coordinator side: verifies a co-signer's document against `policy` and the expected nonce, auth
 * key and co-signer id, and returns the identity it carries. Throws ERR_ATTESTATION_REFUSED naming
 * the failed checks (each carries the shared verifier's own code).
 */
export function verifyCosignerAttestation(
  document: Uint8Array,
  expect: { readonly nonce: Uint8Array; readonly authKey: KeyObject; readonly cosignerId: string; readonly coordinatorKey: KeyObject; readonly ownerKey?: KeyObject | undefined; readonly at?: number },
  policy: AttestationPolicy,
): ParsedIdentity {
  const r = checkAttestation(document, {
    roots: [...policy.roots],
    nonce: expect.nonce,
    maxAgeMs: ATTESTATION_MAX_AGE_MS,
    ...(expect.at !== undefined ? { at: expect.at } : {}),
    ...(policy.allowDebug ? { allowDebug: true } : {}),
  });
  if (!r.ok || !r.doc) refuse('attestation document does not verify', { failures: r.failures.map((f) => f.code).join(',') });
  const pcr = (i: number): string => Buffer.from(r.doc?.pcrs.get(i) ?? new Uint8Array(0)).toString('hex');
  const m = { PCR0: pcr(0), PCR1: pcr(1), PCR2: pcr(2) };
  const allowed = policy.allowedMeasurements.some((a) => a.PCR0.toLowerCase() === m.PCR0 && a.PCR1.toLowerCase() === m.PCR1 && a.PCR2.toLowerCase() === m.PCR2);
  if (!allowed) refuse('the enclave build is not on the allow-list', { PCR0: m.PCR0.slice(0, 16) });
  let id: ParsedIdentity;
  try {
    id = parseIdentityUserData(r.doc.userData);
  } catch {
    refuse('user_data is not a co-signer identity');
  }
  if (id.coordinatorAuthKeySha256 !== spkiSha(expect.authKey)) refuse('the attested auth key is not the one this connection authenticated with');
  if (id.cosignerId !== expect.cosignerId) refuse('the attested co-signer id is not the one in hello');
  if (id.coordinatorKeySha256 !== spkiSha(expect.coordinatorKey)) refuse('the co-signer was set up with another coordinator key');
  if (expect.ownerKey && id.ownerKeyFingerprint !== spkiSha(expect.ownerKey)) refuse('the co-signer was set up with another owner key');
  return id;
}
