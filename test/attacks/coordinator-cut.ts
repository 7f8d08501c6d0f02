// Test helper: the reference coordinator's co-signer request handler (local/coordinator/pairing.ts)
// with a switch that cuts the co-signer's connection just before or just after the coordinator
// handles a message of a given type — from the coordinator's side, what a killed co-signer looks like
// (after: the coordinator recorded it, the co-signer never hears back). Used from vi.mock factories.
import type { CoordinatorState } from '../../local/coordinator/state.ts';
import { CosignerError } from '../../proto/errors.ts';

export interface CutSwitch {
  cutAt: { type: string; when: 'before' | 'after' } | undefined;
}

type PairingModule = typeof import('../../local/coordinator/pairing.ts');

export function cuttablePairing(actual: PairingModule, fault: CutSwitch): PairingModule {
  const cut = (st: CoordinatorState): never => {
    fault.cutAt = undefined;
    for (const s of st.sockets) s.destroy();
    throw new CosignerError('ERR_UNAVAILABLE', 'connection cut by the test');
  };
  return {
    ...actual,
    handleCosigner: async (st: CoordinatorState, ctx: never, type: string, body: unknown) => {
      if (fault.cutAt?.type === type && fault.cutAt.when === 'before') cut(st);
      const r = await actual.handleCosigner(st, ctx, type, body);
      if (fault.cutAt?.type === type && fault.cutAt.when === 'after') cut(st);
      return r;
    },
  } as PairingModule;
}
