// Whether this tree can sign with threshold ECDSA: until the OT layer and the DKLs23 protocols are
// wired in, their entry points refuse with ERR_UNSUPPORTED_SCHEME ("not available in this build"),
// and the ECDSA end-to-end cases are skipped. Any other outcome of a probe call (a result, or an
// error about the probe's parameters) means that part is there. The protocols seam
// (enclave/mpc/ecdsa/host/protocols.ts) comes with the integration, so it is looked up at run time.
import { otLayer } from '../../../enclave/mpc/ecdsa/ot/index.ts';
import type { PairwiseSetupParams } from '../../../enclave/mpc/ecdsa/ot-api.ts';

function refuses(probe: () => unknown): boolean {
  try {
    probe();
    return false;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    return e.code === 'ERR_UNSUPPORTED_SCHEME' && String(e.message).includes('not available in this build');
  }
}

async function protocolsRefuse(): Promise<boolean> {
  const seam = '../../../enclave/mpc/ecdsa/host/protocols.ts';
  let mod: { ecdsaProtocols?: { dkg(p: unknown): unknown } };
  try {
    mod = (await import(seam)) as typeof mod;
  } catch {
    return true; // no integration in this tree
  }
  if (!mod.ecdsaProtocols) return true;
  return refuses(() => mod.ecdsaProtocols!.dkg({ threshold: 2, participants: [1, 2], identifier: 1, now: 0 }));
}

export const ecdsaAvailable: boolean = !refuses(() => otLayer.pairwiseSetup({} as PairwiseSetupParams)) && !(await protocolsRefuse());
