// Runs on the parent (the `cosigner` CLI, local stack and tests). Compile-time shape of every control
// method, derived from the one METHODS table in protocol.ts, so a misspelt method or a wrong or missing
// param is a type error at the call site rather than an ERR_INVALID_ARGUMENT at run time.
import type { ResponseMessage } from '../../proto/runtime/typed-service.ts';
import type { ControlRpc, METHODS } from './protocol.ts';

type Table = typeof METHODS;

/** A control method name. */
export type ControlMethod = keyof Table;

/** The TypeScript type a params spec ('string' | 'int' | 'boolean' | nested object) accepts. */
type FieldValue<F> = F extends { readonly type: 'string' }
  ? string
  : F extends { readonly type: 'int' }
    ? number
    : F extends { readonly type: 'boolean' }
      ? boolean
      : F extends { readonly type: 'object'; readonly fields: infer Fs }
        ? ObjectOf<Fs>
        : never;

type RequiredKeys<Fs> = { [K in keyof Fs]: Fs[K] extends { readonly required: true } ? K : never }[keyof Fs];
type OptionalKeys<Fs> = Exclude<keyof Fs, RequiredKeys<Fs>>;

/** Flattened so an object literal with an unknown key gets the excess-property error. */
type ObjectOf<Fs> = [keyof Fs] extends [never]
  ? Record<string, never>
  : { [K in RequiredKeys<Fs>]: FieldValue<Fs[K]> } & { [K in OptionalKeys<Fs>]?: FieldValue<Fs[K]> } extends infer O
    ? { [K in keyof O]: O[K] }
    : never;

/** The params object method M takes: required spec fields are required properties, the rest optional. */
export type ControlParams<M extends ControlMethod> = ObjectOf<Table[M]['params']>;

/**
 * The rest arguments after the method: params (omittable when nothing in them is required), then an
 * optional timeout in milliseconds.
 */
export type ControlArgs<M extends ControlMethod> = Record<string, never> extends ControlParams<M>
  ? [params?: ControlParams<M>, timeoutMs?: number]
  : [params: ControlParams<M>, timeoutMs?: number];

/** What the daemon's toJsonSafe (control-handler.ts) makes of a decoded message: bytes base64, 64-bit decimal. */
export type JsonSafe<T> = T extends Uint8Array
  ? string
  : T extends bigint
    ? string
    : T extends readonly (infer E)[]
      ? JsonSafe<E>[]
      : T extends object
        ? { [K in keyof T]: JsonSafe<T[K]> }
        : T;

/**
 * The result of method M: for a method forwarded to the enclave, the generated response of that
 * `cosigner.v1.Control` RPC as the daemon serialises it; the parent's own methods are `unknown`.
 */
export type ControlResult<M extends ControlMethod> = Table[M] extends { readonly forward: infer R extends ControlRpc }
  ? JsonSafe<ResponseMessage<'cosigner.v1.Control', R>>
  : unknown;
