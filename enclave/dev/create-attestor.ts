// Development and tests only (it can create the development attestor, so it is not part of the
// production bundle). Creates an Attestor for either mode from explicit inputs; the enclave itself
// picks its attestor through enclave/services/build-profile.ts, fixed at build time (DESIGN invariant 5).
import { CosignerError } from '../../proto/errors.ts';
import { DevAttestor, DevAuthority, type DevAttestorOptions } from './dev-authority.ts';
import { NsmAttestor, openNsmDevice, type NsmTransport } from '../attestation/nsm.ts';
import type { Attestor } from '../../proto/attestation/types.ts';

/** Inputs for each mode; only the chosen mode's inputs are used. */
export interface CreateAttestorOptions {
  /** NSM mode: a transport (tests); default opens /dev/nsm through the addon. */
  readonly nsmTransport?: NsmTransport;
  /** Dev mode: the authority, or the directory it lives in (created on first use). */
  readonly devAuthority?: DevAuthority;
  readonly devAuthorityDir?: string;
  /** Dev mode: what the documents measure and carry (see DevAttestorOptions). */
  readonly dev?: Omit<DevAttestorOptions, 'authority'>;
}

/**
 * Creates the Attestor for `mode`.
 *
 * @example
 * const attestor = await createAttestor('dev', { devAuthorityDir, dev: { bundleBytes } });
 */
export async function createAttestor(mode: 'nsm' | 'dev', opts: CreateAttestorOptions = {}): Promise<Attestor> {
  if (mode === 'nsm') return new NsmAttestor(opts.nsmTransport ?? openNsmDevice());
  if (mode !== 'dev') throw new CosignerError('ERR_CONFIG_INVALID', 'attestation mode must be nsm or dev');
  const authority = opts.devAuthority ?? (opts.devAuthorityDir ? await DevAuthority.loadOrCreate(opts.devAuthorityDir) : undefined);
  if (!authority) throw new CosignerError('ERR_CONFIG_INVALID', 'dev attestation needs devAuthority or devAuthorityDir');
  return new DevAttestor({ ...(opts.dev ?? {}), authority });
}
