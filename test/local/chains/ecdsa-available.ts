// Whether this tree can sign with threshold ECDSA: until the OT layer is built, every entry point of
// enclave/mpc/ecdsa/ot refuses with ERR_UNSUPPORTED_SCHEME ("not available in this build"), and the
// ECDSA end-to-end cases are skipped. Any other outcome of a probe call (a result, or an error about
// the probe's empty parameters) means the layer is there.
import { otLayer } from '../../../enclave/mpc/ecdsa/ot/index.ts';
import type { PairwiseSetupParams } from '../../../enclave/mpc/ecdsa/ot-api.ts';

export const ecdsaAvailable: boolean = (() => {
  try {
    otLayer.pairwiseSetup({} as PairwiseSetupParams);
    return true;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    return !(e.code === 'ERR_UNSUPPORTED_SCHEME' && String(e.message).includes('not available in this build'));
  }
})();
