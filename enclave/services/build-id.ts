// Runs in the enclave (and in scripts/bundle-enclave.ts). The build id stated in the wire handshake:
// derived from the bundle's bytes, so neither side chooses it and the parent can require equality.
import { createHash } from 'node:crypto';

/** Build id of an unbundled run (tsx from the source tree: tests, development). */
export const UNBUNDLED_BUILD_ID = 'nitro-cosigner-unbundled';

/** `nitro-cosigner-` + the first 16 hex digits of SHA-256(bundle). */
export function buildIdFor(bundle: Uint8Array): string {
  return `nitro-cosigner-${createHash('sha256').update(bundle).digest('hex').slice(0, 16)}`;
}
