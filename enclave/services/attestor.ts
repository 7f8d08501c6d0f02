// Runs in the enclave. The production build's attestor: the Nitro Secure Module. Which attestor a
// bundle uses is decided when it is BUILT (enclave/services/build-profile.ts, DESIGN invariant 5);
// the development authority lives in enclave/dev/ and is not part of the production bundle.
import { loadNsmNative, NSM_ADDON_PATH, NsmAttestor, openNsmDevice } from '../attestation/nsm.ts';
import type { Attestor } from '../../proto/attestation/types.ts';

/** Opens /dev/nsm through the addon beside the bundle (or beside the sources when unbundled). */
export function createNsmBuildAttestor(): Attestor {
  // In a bundle the addon sits in <bundle dir>/native (enclave/services/bundle-env.ts).
  const addon = process.env.COSIGNER_NSM_ADDON ?? NSM_ADDON_PATH;
  return new NsmAttestor(openNsmDevice(loadNsmNative(addon)));
}
