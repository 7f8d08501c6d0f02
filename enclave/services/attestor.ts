// Runs in the enclave. Creates the attestor for the mode this bundle was BUILT for (DESIGN invariant
// 5): the NSM in a production build, the development authority in a dev build. The parent never
// chooses; it only supplies, for a dev build, where the development authority keeps its keys.
import { createAttestor } from '../attestation/create-attestor.ts';
import { loadNsmNative, NSM_ADDON_PATH, openNsmDevice } from '../attestation/nsm.ts';
import type { Attestor } from '../../proto/attestation/types.ts';
import { CosignerError } from '../../proto/errors.ts';

export interface AttestorOptions {
  readonly mode: 'nsm' | 'dev';
  /** dev: the development authority's directory. */
  readonly devCaDir?: string | undefined;
  /** dev: the bytes that PCR0/1/2 measure (the bundle file itself). */
  readonly bundleBytes: Uint8Array;
  /** dev: instance id for PCR4 / module_id (the authority's default when undefined). */
  readonly instanceId?: string | undefined;
}

/** The build's attestor. A production build opens /dev/nsm through the addon beside the bundle. */
export async function createBuildAttestor(opts: AttestorOptions): Promise<Attestor> {
  if (opts.mode === 'nsm') {
    // In a bundle the addon sits in <bundle dir>/native (enclave/services/bundle-env.ts).
    const addon = process.env.COSIGNER_NSM_ADDON ?? NSM_ADDON_PATH;
    return createAttestor('nsm', { nsmTransport: openNsmDevice(loadNsmNative(addon)) });
  }
  if (!opts.devCaDir) throw new CosignerError('ERR_CONFIG_INVALID', 'a development build needs --dev-ca DIR');
  return createAttestor('dev', {
    devAuthorityDir: opts.devCaDir,
    dev: { bundleBytes: opts.bundleBytes, ...(opts.instanceId ? { instanceId: opts.instanceId } : {}) },
  });
}
