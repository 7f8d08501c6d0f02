// Test helper: whether this build can run threshold ECDSA (the DKLs23 protocol and its OT layer are
// in the tree and wired into enclave/mpc/ecdsa/host/protocols.ts). Tests of the real protocol
// through the real enclave process skip with this reason until then.
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { otLayer } from '../../enclave/mpc/ecdsa/ot/index.ts';
import { ecdsaProtocols } from '../../enclave/mpc/ecdsa/host/protocols.ts';

function probe(): boolean {
  try {
    otLayer.pairwiseSetup({ transcript: new Uint8Array(32), self: 1, peer: 2 }).abort();
    ecdsaProtocols.dkg({ threshold: 2, participants: [1, 2], identifier: 1, now: 0 }).abort();
    return true;
  } catch {
    return false;
  }
}

/** True when DKLs23 and its OT layer are in this build. */
export const ecdsaAvailable = probe();

/** Why ECDSA tests are skipped when `ecdsaAvailable` is false. */
export const ECDSA_SKIP_REASON = 'threshold ECDSA (DKLs23 + OT layer) is not in this build yet: enclave/mpc/ecdsa/ot/index.ts and host/protocols.ts refuse';

const SPKI_SECP256K1 = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');

/**
 * Whether `signatureHex` (r ‖ s) with `recovery` is a low-S ECDSA signature of SHA-256(`preimage`)
 * by the compressed key `publicKeyHex`, by three independent checks: noble `secp256k1.verify`,
 * node:crypto over the DER form, and key recovery giving back the same key.
 */
export function ecdsaChecks(publicKeyHex: string, preimage: Uint8Array, signatureHex: string, recovery: number): { noble: boolean; node: boolean; recovered: boolean; lowS: boolean } {
  const digest = createHash('sha256').update(preimage).digest();
  const pub = Buffer.from(publicKeyHex, 'hex');
  const compact = Buffer.from(signatureHex, 'hex');
  const sig = secp256k1.Signature.fromBytes(compact, 'compact');
  const key = createPublicKey({ key: Buffer.concat([SPKI_SECP256K1, pub]), format: 'der', type: 'spki' });
  return {
    noble: secp256k1.verify(compact, digest, pub, { prehash: false, lowS: true }),
    node: nodeVerify('sha256', preimage, key, sig.toBytes('der')),
    recovered: sig.addRecoveryBit(recovery).recoverPublicKey(digest).toHex(true) === publicKeyHex,
    lowS: !sig.hasHighS(),
  };
}
