// Runs in the enclave and in the reference coordinator. The OT layer DKLs23 uses (ot-api.ts).
// Not built yet: every entry point refuses, so nothing can sign ECDSA without it.
import { CosignerError } from '../../../../proto/errors.ts';
import type { OtLayer } from '../ot-api.ts';

function missing(): never {
  throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'threshold ECDSA is not available in this build');
}

export const otLayer: OtLayer = { pairwiseSetup: missing, rvoleReceive: missing, rvoleSend: missing };
