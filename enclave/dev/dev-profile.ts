// Runs in the enclave, development builds only: enclave/services/build-profile.ts imports this module
// behind the build-time mode constant, so the production (NSM) bundle does not contain it or anything
// it imports (the development attestation authority and its CA writer, @peculiar/x509, the
// development flags, the accelerated clock).
import { readFile } from 'node:fs/promises';
import { CosignerError } from '../../proto/errors.ts';
import type { BuildProfile } from '../services/build-profile.ts';
import { acceleratedClock } from './accelerated-clock.ts';
import { DevAttestor, DevAuthority } from './dev-authority.ts';
import { parseDevFlags } from './dev-flags.ts';

/** The development build: the development attestation authority under --dev-ca, local-mode flags and trust anchors. */
export const profile: BuildProfile = {
  mode: 'dev',
  parseFlags: parseDevFlags,
  async createAttestor(flags, bundleBytes) {
    if (!flags.devCaDir) throw new CosignerError('ERR_CONFIG_INVALID', 'a development build needs --dev-ca DIR');
    const authority = await DevAuthority.loadOrCreate(flags.devCaDir);
    return new DevAttestor({ authority, bundleBytes, ...(flags.instanceId ? { instanceId: flags.instanceId } : {}) });
  },
  async loadTlsCa(flags) {
    if (!flags.tlsCaFile) return undefined;
    let pem: string;
    try {
      pem = await readFile(flags.tlsCaFile, 'utf8');
    } catch (err) {
      throw new CosignerError('ERR_CONFIG_INVALID', `--tls-ca ${flags.tlsCaFile}: ${(err as Error).message}`, { cause: err });
    }
    if (pem.length > 256 * 1024 || !pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CosignerError('ERR_CONFIG_INVALID', `--tls-ca ${flags.tlsCaFile} is not a PEM certificate file`);
    }
    return pem;
  },
  // Local mode may run the RETRY schedule on a faster clock (dev-flags.ts requires --local for it).
  callbackClock: (base, flags) => (flags.local && flags.callback.clockSpeedup ? acceleratedClock(base, flags.callback.clockSpeedup) : base),
};
