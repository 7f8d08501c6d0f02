// Compile-time checks of the typed control client: tsc (npx tsc -p tsconfig.json) fails if a
// `@ts-expect-error` line below stops being an error, i.e. if METHODS stops constraining call sites.
import { describe, expectTypeOf, it } from 'vitest';
import type { ControlClient, callDaemon } from '../../../parent/control/client.ts';
import type { ControlMethod, ControlParams, ControlResult } from '../../../parent/control/method-types.ts';

type Request = ControlClient['request'];

describe('typed control client', () => {
  it('derives method names and params from METHODS', () => {
    expectTypeOf<'status'>().toMatchTypeOf<ControlMethod>();
    expectTypeOf<'removeUser'>().toMatchTypeOf<ControlMethod>();
    expectTypeOf<'removeUsers'>().not.toMatchTypeOf<ControlMethod>();
    expectTypeOf<ControlParams<'removeUser'>>().toEqualTypeOf<{ userId: string }>();
    expectTypeOf<ControlParams<'logs'>>().toEqualTypeOf<{ n?: number; sinceMs?: number; from?: number }>();
    expectTypeOf<ControlParams<'upgrade'>['policyChecked']>().toEqualTypeOf<boolean>();
    expectTypeOf<ControlParams<'callbackUpdate'>['callback']>().toEqualTypeOf<{ url?: string; authMode?: string; handlerPublicKeyPem?: string; certificatePem?: string; rootCaPem?: string }>();
    expectTypeOf<ControlParams<'setup'>>().toHaveProperty('kmsKeyArn').toEqualTypeOf<string>();
  });

  it('types forwarded results from the generated response, JSON-safe', () => {
    expectTypeOf<ControlResult<'printPublicKey'>>().toHaveProperty('publicKeyPem').toEqualTypeOf<string>();
    expectTypeOf<ControlResult<'status'>>().toEqualTypeOf<unknown>();
  });

  it('rejects misspelt methods and wrong or missing params at compile time', () => {
    // Never called: only the type checker reads these lines.
    const check = (request: Request, call: typeof callDaemon): void => {
      void request('status');
      void request('logs', { n: 5 }, 1000);
      void call('/sock', 'removeUser', { userId: 'u1' });
      // @ts-expect-error misspelt method
      void request('stauts');
      // @ts-expect-error missing required param userId
      void request('removeUser', {});
      // @ts-expect-error params object left out although userId is required
      void call('/sock', 'removeUser');
      // @ts-expect-error int param given as a string
      void request('logs', { n: '5' });
      // @ts-expect-error unknown param
      void request('unseal', { allowRollback: '3' });
    };
    expectTypeOf(check).toBeFunction();
  });
});
