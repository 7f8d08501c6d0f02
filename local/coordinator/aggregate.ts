// Runs wherever signature shares are combined: the reference coordinator, and the enclave when it
// wants to check a coordinator's result. Wraps @noble/curves' RFC 9591 §5.3 aggregate so that a bad
// share is reported as ERR_BAD_SHARE naming the participant, and checks every input first.
import type { NonceCommitments } from '@noble/curves/abstract/frost.js';
import { CosignerError } from '../../proto/errors.ts';
import { fromHex } from '../../proto/encoding/hex.ts';
import { publicPackage, type KeyShareLike } from '../../enclave/mpc/key-package.ts';
import type { WireCommitment } from '../../enclave/mpc/signing-session.ts';
import { identifierOf, isValidElement, suiteFor } from '../../enclave/mpc/suites.ts';

/** The public half of a key share record: all aggregation needs. */
export type PublicKeyInfo = Omit<KeyShareLike, 'secretShare'>;

/**
 * Combines the signature shares of `commitments`' signers into the final 64-byte signature.
 * Throws ERR_BAD_SHARE with `details.identifier` (first culprit) and `details.identifiers`
 * (comma-separated) when shares do not verify; ERR_INVALID_ARGUMENT for malformed input.
 */
export function aggregateSignature(
  key: PublicKeyInfo,
  message: Uint8Array,
  commitments: readonly WireCommitment[],
  shares: Readonly<Record<number, string>>,
): Uint8Array {
  const suite = suiteFor(key.scheme);
  const pub = publicPackage({ ...key, secretShare: '' });
  const pointBytes = key.scheme === 'frost-ed25519' ? 32 : 33;
  const seen = new Set<number>();
  const list: NonceCommitments[] = [];
  const sigShares: Record<string, Uint8Array> = {};
  if (commitments.length < key.threshold || commitments.length > key.participants.length) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'signer count must be between the threshold and the participant count');
  }
  for (const c of commitments) {
    if (!key.participants.includes(c.identifier) || seen.has(c.identifier)) {
      throw new CosignerError('ERR_INVALID_ARGUMENT', 'commitment list has an unknown or duplicate identifier', { details: { identifier: c.identifier } });
    }
    seen.add(c.identifier);
    const hiding = fromHex(c.hiding, { bytes: pointBytes, field: 'hiding' });
    const binding = fromHex(c.binding, { bytes: pointBytes, field: 'binding' });
    const id = identifierOf(suite, c.identifier);
    list.push({ identifier: id, hiding, binding } as NonceCommitments);
    const share = shares[c.identifier];
    if (share === undefined) throw new CosignerError('ERR_BAD_SHARE', 'signature share missing', { details: { identifier: c.identifier } });
    try {
      sigShares[id] = fromHex(share, { bytes: 32, field: 'signatureShare' });
    } catch {
      throw new CosignerError('ERR_BAD_SHARE', 'malformed signature share', { details: { identifier: c.identifier } });
    }
  }
  if (Object.keys(shares).length !== commitments.length) {
    throw new CosignerError('ERR_INVALID_ARGUMENT', 'signature shares from outside the signer set');
  }
  try {
    return suite.aggregate(pub, list, message, sigShares);
  } catch (err) {
    // Blame an invalid commitment point first (the suite's own check cannot name its sender).
    for (const c of list) {
      if (!isValidElement(key.scheme, c.hiding) || !isValidElement(key.scheme, c.binding)) {
        const n = commitments.find((w) => identifierOf(suite, w.identifier) === c.identifier)?.identifier ?? 0;
        throw new CosignerError('ERR_BAD_SHARE', 'invalid commitment point', { details: { identifier: n } });
      }
    }
    const cheaters = (err as { cheaters?: unknown }).cheaters;
    const byNumber = new Map(commitments.map((c) => [identifierOf(suite, c.identifier), c.identifier]));
    const culprits = Array.isArray(cheaters) ? cheaters.map((h) => byNumber.get(String(h))).filter((n): n is number => n !== undefined) : [];
    if (culprits.length > 0) {
      throw new CosignerError('ERR_BAD_SHARE', 'signature share does not verify', { details: { identifier: culprits[0] as number, identifiers: culprits.join(',') } });
    }
    throw new CosignerError('ERR_BAD_SHARE', 'aggregation failed', { cause: err });
  }
}
