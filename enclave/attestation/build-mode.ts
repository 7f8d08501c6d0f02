// Enclave. The attestation mode is baked into the bundle at build time (DESIGN invariant 5): the
// bundler (scripts/bundle-enclave.ts) replaces __COSIGNER_ATTESTATION_MODE__ with 'nsm' or 'dev'
// through esbuild `define`, so the mode is part of the measured image and the parent cannot pick it.
import { CosignerError } from '../../proto/errors.ts';

declare const __COSIGNER_ATTESTATION_MODE__: string | undefined;

/** The attestation mode this build was made for; unbundled runs (tsx, tests) are 'dev'. */
export const BUILD_ATTESTATION_MODE: 'nsm' | 'dev' = resolveMode(
  typeof __COSIGNER_ATTESTATION_MODE__ === 'undefined' ? undefined : __COSIGNER_ATTESTATION_MODE__,
);

/** Maps the build-time constant to a mode; anything but the two known values is a build error. */
export function resolveMode(value: string | undefined): 'nsm' | 'dev' {
  if (value === undefined) return 'dev';
  if (value === 'nsm' || value === 'dev') return value;
  throw new CosignerError('ERR_CONFIG_INVALID', `unknown __COSIGNER_ATTESTATION_MODE__ ${JSON.stringify(value)}`);
}
