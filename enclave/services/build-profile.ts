// Runs in the enclave. Everything that differs between the production (NSM) build and the development
// build, selected when the bundle is BUILT (DESIGN invariant 5): scripts/bundle-enclave.ts replaces
// __COSIGNER_ATTESTATION_MODE__ with 'nsm' or 'dev' through esbuild `define`. The test below is a
// literal comparison on that constant, so in the NSM bundle it folds to `false` and esbuild drops the
// dynamic import with it: the development authority, its CA writer, the development flags and the
// accelerated clock (all under enclave/dev/) are not in the production image at all, and the
// bundler refuses to build an NSM bundle that reaches enclave/dev/ by any other path.
// Unbundled runs (tsx, tests) have no define and are development builds.
import type { Attestor } from '../../proto/attestation/types.ts';
import { CosignerError } from '../../proto/errors.ts';
import type { Clock } from '../../proto/ports.ts';
import { createNsmBuildAttestor } from './attestor.ts';
import { parseProductionFlags, type EnclaveFlags } from './flags.ts';

declare const __COSIGNER_ATTESTATION_MODE__: string | undefined;

/** The build-specific pieces enclave/main.ts composes. */
export interface BuildProfile {
  readonly mode: 'nsm' | 'dev';
  /** Strict command-line parsing (ERR_USAGE on anything this build does not accept). */
  parseFlags(argv: readonly string[]): EnclaveFlags;
  /** The build's attestor; `bundleBytes` are what a development attestor measures. */
  createAttestor(flags: EnclaveFlags, bundleBytes: Uint8Array): Promise<Attestor>;
  /** Local mode's extra TLS trust anchors (PEM), or undefined. */
  loadTlsCa(flags: EnclaveFlags): Promise<string | undefined>;
  /** The clock the Callback Handler RETRY schedule runs on. */
  callbackClock(base: Clock, flags: EnclaveFlags): Clock;
}

/** The production build: the NSM, --listen/--log-level only, the public TLS roots, the real clock. */
export const productionProfile: BuildProfile = {
  mode: 'nsm',
  parseFlags: parseProductionFlags,
  createAttestor: async () => createNsmBuildAttestor(),
  loadTlsCa: async () => undefined,
  callbackClock: (base) => base,
};

/** The profile this code was built for. Keep the condition a literal test of the define (see above). */
export async function loadBuildProfile(): Promise<BuildProfile> {
  if (typeof __COSIGNER_ATTESTATION_MODE__ === 'undefined' || __COSIGNER_ATTESTATION_MODE__ === 'dev') {
    return (await import('../dev/dev-profile.ts')).profile;
  }
  // Anything but the two known values is a broken build: refuse to start rather than guess.
  if (__COSIGNER_ATTESTATION_MODE__ !== 'nsm') {
    throw new CosignerError('ERR_CONFIG_INVALID', `unknown __COSIGNER_ATTESTATION_MODE__ ${JSON.stringify(__COSIGNER_ATTESTATION_MODE__)}`);
  }
  return productionProfile;
}
