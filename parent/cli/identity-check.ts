// Runs on the parent or any operator machine (`cosigner verify-attestation --identity FILE`): reads
// the co-signer's published identity (the output of `cosigner print-public-key --json`) and compares
// a document's user_data with it field by field, so a reviewer never recomputes the encoding by hand.
import { createHash, createPublicKey } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { parseIdentityUserData, type ParsedIdentity } from '../../proto/attestation/identity.ts';

/** A published identity, and the callback key PEM that came with it (if the file carries one). */
export interface PublishedIdentity {
  readonly identity: ParsedIdentity;
  readonly publicKeyPem: string | null;
}

const HEX32 = /^[0-9a-f]{64}$/;
const FIELDS = ['version', 'protocolVersion', 'coordinatorAuthKeySha256', 'callbackSigningKeySha256', 'coordinatorKeySha256', 'ownerKeyFingerprint', 'cosignerId', 'buildId', 'kmsPolicyChangeable'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string): never {
  // A file that is not what print-public-key writes is a bad value (exit 2), never a verdict.
  throw new CosignerError('ERR_INVALID_ARGUMENT', `--identity: ${message}`);
}

function checkIdentityShape(v: unknown): ParsedIdentity {
  if (!isObj(v)) bad('the file has no "identity" object (print-public-key could not read one from an attestation; run it again once the co-signer is set up)');
  // Unknown fields are refused: a newer identity version must not pass as a partial match.
  const extra = Object.keys(v).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length) bad(`unknown identity field ${JSON.stringify(extra[0]).slice(0, 80)}`);
  if (v.version !== 2) bad('identity version must be 2');
  if (typeof v.protocolVersion !== 'number' || !Number.isInteger(v.protocolVersion) || v.protocolVersion < 0 || v.protocolVersion > 0xffffffff) bad('protocolVersion must be a u32');
  for (const k of ['coordinatorAuthKeySha256', 'callbackSigningKeySha256', 'coordinatorKeySha256'] as const) {
    if (typeof v[k] !== 'string' || !HEX32.test(v[k])) bad(`${k} must be 64 lowercase hex digits`);
  }
  if (v.ownerKeyFingerprint !== null && (typeof v.ownerKeyFingerprint !== 'string' || !HEX32.test(v.ownerKeyFingerprint))) bad('ownerKeyFingerprint must be 64 lowercase hex digits or null');
  for (const k of ['cosignerId', 'buildId'] as const) if (typeof v[k] !== 'string' || v[k].length === 0 || v[k].length > 200) bad(`${k} must be a non-empty string`);
  if (v.kmsPolicyChangeable !== null && typeof v.kmsPolicyChangeable !== 'boolean') bad('kmsPolicyChangeable must be true, false or null');
  return v as unknown as ParsedIdentity;
}

/**
 * Reads `cosigner print-public-key --json` output: the envelope `{"ok":true,"command":"print-public-key",
 * "result":{…,"identity":{…}}}`, or its `result` alone. When the file carries the callback key's PEM,
 * that key must be the one the identity names: the reviewer then knows the attested enclave holds
 * exactly the key they will verify Callback Handler requests with.
 */
export function parsePublishedIdentity(text: string): PublishedIdentity {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    bad('the file is not JSON (expected the output of `cosigner print-public-key --json`)');
  }
  if (isObj(j) && 'ok' in j) {
    if (j.ok !== true || j.command !== 'print-public-key') bad('the file is not a successful `cosigner print-public-key --json` output');
    j = j.result;
  }
  if (!isObj(j)) bad('expected the output of `cosigner print-public-key --json`');
  const identity = checkIdentityShape(j.identity);
  let publicKeyPem: string | null = null;
  if (j.publicKeyPem !== undefined) {
    if (typeof j.publicKeyPem !== 'string') bad('publicKeyPem must be a PEM string');
    let der: Buffer;
    try {
      der = createPublicKey(j.publicKeyPem).export({ type: 'spki', format: 'der' });
    } catch {
      bad('publicKeyPem is not a public key');
    }
    if (createHash('sha256').update(der).digest('hex') !== identity.callbackSigningKeySha256) bad('publicKeyPem is not the callback signing key the identity names: the file was edited or assembled from two co-signers');
    publicKeyPem = j.publicKeyPem;
  }
  return { identity, publicKeyPem };
}

/**
 * Compares a document's user_data with the published identity. Returns null on a match, else the
 * failure (ERR_ATTESTATION_USER_DATA) naming each differing field with both values.
 */
export function compareIdentity(userData: Uint8Array | null | undefined, published: ParsedIdentity): { code: 'ERR_ATTESTATION_USER_DATA'; message: string } | null {
  let doc: ParsedIdentity;
  try {
    doc = parseIdentityUserData(userData ?? null);
  } catch (err) {
    return { code: 'ERR_ATTESTATION_USER_DATA', message: `user_data is not a co-signer identity, so it cannot match the published one (${err instanceof Error ? err.message : String(err)})` };
  }
  const diffs = FIELDS.filter((k) => doc[k] !== published[k]).map((k) => `${k} (published ${JSON.stringify(published[k])}, document ${JSON.stringify(doc[k])})`);
  if (diffs.length === 0) return null;
  return { code: 'ERR_ATTESTATION_USER_DATA', message: `the document's identity differs from the published one in ${diffs.join(', ')}` };
}
