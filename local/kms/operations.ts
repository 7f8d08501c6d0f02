// KMS stand-in (local stack and tests only). The KMS operations it answers, each checked against
// the key's policy, including the `kms:RecipientAttestation:*` conditions a Recipient brings.
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import type { VerifiedAttestation } from '../../proto/attestation/types.ts';
import { evaluatePolicy, recipientContext, type KeyPolicy } from '../../proto/kms/key-policy.ts';
import { buildEnvelope } from './cms.ts';
import type { KeyStore, StoredKey } from './key-store.ts';
import { KmsError, MAX_PLAINTEXT, b64, encryptionContext, keyMetadata, parseBlob, parsePolicyOrThrow, seal, str, unseal } from './sealing.ts';

/** What the operations need from the running stand-in. */
export interface OperationContext {
  readonly store: KeyStore;
  readonly account: string;
  readonly trustRootsPem: readonly string[];
  readonly verify: (doc: Uint8Array, trustRootsPem: readonly string[], at: number) => Promise<VerifiedAttestation> | VerifiedAttestation;
  readonly now: () => number;
  readonly onPlaintext: ((operation: string, plaintext: Uint8Array) => void) | undefined;
}

export type Operation = (body: Record<string, unknown>, principalArn: string) => Promise<Record<string, unknown>>;

const defaultPolicy = (principalArn: string): KeyPolicy => ({
  Version: '2012-10-17',
  Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${principalArn.split(':')[4]}:root` }, Action: 'kms:*', Resource: '*' }],
});

function requireKey(store: KeyStore, id: unknown): StoredKey {
  const k = store.find(str(id, 'keyId'));
  if (!k) throw new KmsError('NotFoundException', `Key '${String(id)}' does not exist`);
  if (!k.enabled) throw new KmsError('DisabledException', `${k.arn} is disabled.`);
  return k;
}

function authorize(k: StoredKey | undefined, principalArn: string, action: string, context: Record<string, string>): void {
  const policy = k?.policy;
  const resource = k?.arn ?? '*';
  if (!policy || !evaluatePolicy(policy, { principalArn, action: `kms:${action}`, resourceArn: resource, context })) {
    throw new KmsError(
      'AccessDeniedException',
      `User: ${principalArn} is not authorized to perform: kms:${action} on resource: ${resource} because no resource-based policy allows the kms:${action} action`,
    );
  }
}

/** Verifies a Recipient, returning the RSA key to seal to and the condition keys it brings. */
async function recipient(ctx: OperationContext, r: unknown): Promise<{ key: KeyObject; context: Record<string, string> } | null> {
  if (r === undefined || r === null) return null;
  if (typeof r !== 'object') throw new KmsError('ValidationException', 'Recipient must be a structure');
  const { KeyEncryptionAlgorithm, AttestationDocument } = r as Record<string, unknown>;
  if (KeyEncryptionAlgorithm !== 'RSAES_OAEP_SHA_256') throw new KmsError('ValidationException', 'KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256');
  const doc = b64(AttestationDocument, 'recipient.attestationDocument', 16 * 1024);
  let v: VerifiedAttestation;
  try {
    v = await ctx.verify(doc, ctx.trustRootsPem, ctx.now());
  } catch {
    throw new KmsError('ValidationException', 'The attestation document in the Recipient is not valid');
  }
  if (!v.publicKey) throw new KmsError('ValidationException', 'The attestation document has no public key');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(v.publicKey), format: 'der', type: 'spki' });
  } catch {
    throw new KmsError('ValidationException', 'The attestation document public key is not a SubjectPublicKeyInfo');
  }
  if (key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048) {
    throw new KmsError('ValidationException', 'The attestation document public key must be RSA-2048');
  }
  return { key, context: recipientContext(v.pcrs) };
}

const contextKeys = (ec: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(ec).map(([k, v]) => [`kms:EncryptionContext:${k}`, v]));

/** Key management: create, describe, read and replace a key's policy. */
function keyOperations(ctx: OperationContext): Record<string, Operation> {
  const { store, account } = ctx;
  return {
    async CreateKey(b, principalArn) {
      const policy = b.Policy === undefined ? defaultPolicy(principalArn) : parsePolicyOrThrow(b.Policy);
      if (b.KeySpec !== undefined && b.KeySpec !== 'SYMMETRIC_DEFAULT') throw new KmsError('UnsupportedOperationException', 'only SYMMETRIC_DEFAULT keys');
      const k = await store.create(policy, typeof b.Description === 'string' ? b.Description.slice(0, 8192) : '');
      return { KeyMetadata: keyMetadata(k, account) };
    },
    async DescribeKey(b, p) {
      const k = requireKey(store, b.KeyId);
      authorize(k, p, 'DescribeKey', {});
      return { KeyMetadata: keyMetadata(k, account) };
    },
    async GetKeyPolicy(b, p) {
      const k = requireKey(store, b.KeyId);
      authorize(k, p, 'GetKeyPolicy', {});
      if (b.PolicyName !== undefined && b.PolicyName !== 'default') throw new KmsError('NotFoundException', 'No such policy exists');
      return { Policy: JSON.stringify(k.policy), PolicyName: 'default' };
    },
    async PutKeyPolicy(b, p) {
      const k = requireKey(store, b.KeyId);
      authorize(k, p, 'PutKeyPolicy', {});
      if (b.PolicyName !== undefined && b.PolicyName !== 'default') throw new KmsError('ValidationException', 'PolicyName must be default');
      await store.update({ ...k, policy: parsePolicyOrThrow(b.Policy) });
      return {};
    },
  };
}

/** Cryptographic operations; a verified Recipient gets CiphertextForRecipient instead of plaintext. */
function cryptoOperations(ctx: OperationContext): Record<string, Operation> {
  const { store } = ctx;
  return {
    async Encrypt(b, p) {
      const k = requireKey(store, b.KeyId);
      const ec = encryptionContext(b.EncryptionContext);
      authorize(k, p, 'Encrypt', contextKeys(ec));
      const pt = b64(b.Plaintext, 'plaintext', MAX_PLAINTEXT);
      if (pt.length === 0) throw new KmsError('ValidationException', 'Plaintext must not be empty');
      return { CiphertextBlob: seal(k, pt, ec).toString('base64'), KeyId: k.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    async Decrypt(b, p) {
      const blob = parseBlob(b64(b.CiphertextBlob, 'ciphertextBlob', 6144));
      const k = store.find(blob.keyId);
      if (!k) throw new KmsError('InvalidCiphertextException', '');
      if (b.KeyId !== undefined && requireKey(store, b.KeyId).keyId !== k.keyId) {
        throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
      }
      if (b.EncryptionAlgorithm !== undefined && b.EncryptionAlgorithm !== 'SYMMETRIC_DEFAULT') throw new KmsError('IncorrectKeyException', 'wrong algorithm');
      const ec = encryptionContext(b.EncryptionContext);
      const rcp = await recipient(ctx, b.Recipient);
      authorize(k, p, 'Decrypt', { ...contextKeys(ec), ...(rcp?.context ?? {}) });
      const pt = unseal(k, blob, ec);
      ctx.onPlaintext?.('Decrypt', Buffer.from(pt));
      try {
        if (rcp) return { KeyId: k.arn, CiphertextForRecipient: buildEnvelope(pt, rcp.key).toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
        return { KeyId: k.arn, Plaintext: pt.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      } finally {
        pt.fill(0);
      }
    },
    async GenerateDataKey(b, p) {
      const k = requireKey(store, b.KeyId);
      let n: number;
      if (b.KeySpec !== undefined && b.NumberOfBytes !== undefined) throw new KmsError('ValidationException', 'KeySpec or NumberOfBytes, not both');
      if (b.KeySpec === 'AES_256') n = 32;
      else if (b.KeySpec === 'AES_128') n = 16;
      else if (typeof b.NumberOfBytes === 'number' && Number.isInteger(b.NumberOfBytes) && b.NumberOfBytes >= 1 && b.NumberOfBytes <= 1024) n = b.NumberOfBytes;
      else throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
      const ec = encryptionContext(b.EncryptionContext);
      const rcp = await recipient(ctx, b.Recipient);
      authorize(k, p, 'GenerateDataKey', { ...contextKeys(ec), ...(rcp?.context ?? {}) });
      const pt = randomBytes(n);
      ctx.onPlaintext?.('GenerateDataKey', Buffer.from(pt));
      try {
        const out: Record<string, unknown> = { KeyId: k.arn, CiphertextBlob: seal(k, pt, ec).toString('base64') };
        if (rcp) out.CiphertextForRecipient = buildEnvelope(pt, rcp.key).toString('base64');
        else out.Plaintext = pt.toString('base64');
        return out;
      } finally {
        pt.fill(0);
      }
    },
    async GenerateRandom(b) {
      const n = b.NumberOfBytes;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1024) throw new KmsError('ValidationException', 'NumberOfBytes must be 1..1024');
      const rcp = await recipient(ctx, b.Recipient);
      const pt = randomBytes(n);
      if (rcp) return { CiphertextForRecipient: buildEnvelope(pt, rcp.key).toString('base64') };
      return { Plaintext: pt.toString('base64') };
    },
  };
}

/** Every supported operation, by its `TrentService.<Op>` name. */
export function createOperations(ctx: OperationContext): Record<string, Operation> {
  return { ...keyOperations(ctx), ...cryptoOperations(ctx) };
}
