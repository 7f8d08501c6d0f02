// Both sides. Typed service implementations and clients over the untyped Peer, derived from the
// generated contract (proto/generated/wire.d.ts, `make proto`). The generated declarations describe
// protobufjs static classes; the runtime instead decodes by reflection with schema.ts TO_OBJECT, so the
// types here map each message to what code really receives:
//   - every field present (defaults: true), nested messages `null` when absent, repeated as arrays;
//   - 64-bit integers as bigint (longs: BigInt), bytes as Uint8Array, enums as their names.
// What code sends is looser (protobufjs fromObject): every field optional, 64-bit as bigint or number.
import type { cosigner } from '../generated/wire.d.ts';
import type { CallOptions, HandlerContext, Peer, ServiceImpl } from './peer.ts';

/** A protobufjs Long as the generated declarations spell 64-bit fields (`number|Long`). */
interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

/** Enum names by generated enum type; an enum not listed here decodes to `string`. */
type EnumName<E> = E extends cosigner.v1.ErrorCode ? keyof typeof cosigner.v1.ErrorCode : string;

type Scalar = string | boolean | Uint8Array;

/** True when T (e.g. `number|Long`) is how the generated declarations spell a 64-bit field. */
type Is64<T> = [Extract<T, LongLike>] extends [never] ? false : true;

/**
 * A decoded value (no null: used for array elements and by DecodedField). Every test is wrapped in a
 * tuple so a union such as `number|Long` is judged as a whole, not member by member.
 */
type DecodedValue<T> = [T] extends [readonly (infer E)[]]
  ? DecodedValue<E>[]
  : Is64<T> extends true
    ? bigint
    : [T] extends [Scalar]
      ? T
      : [number] extends [T]
        ? number
        : [T] extends [number]
          ? EnumName<T>
          : Decoded<T>;

/** A decoded field: a singular sub-message is null when the sender left it out. */
type DecodedField<T> = [NonNullable<T>] extends [readonly unknown[] | Scalar | number | LongLike] ? DecodedValue<NonNullable<T>> : DecodedValue<NonNullable<T>> | null;

/** A message as the runtime decodes it (schema.ts TO_OBJECT). */
export type Decoded<M> = { [K in keyof M as K extends `$${string}` ? never : K]-?: DecodedField<M[K]> };

type InputValue<T> = [T] extends [readonly (infer E)[]]
  ? InputValue<E>[]
  : Is64<T> extends true
    ? bigint | number
    : [T] extends [Scalar]
      ? T
      : [number] extends [T]
        ? number
        : [T] extends [number]
          ? EnumName<T> | T
          : Input<T>;

/** A message as code may send it (protobufjs fromObject): fields optional, unset = default. */
export type Input<M> = { [K in keyof M as K extends `$${string}` ? never : K]?: InputValue<NonNullable<M[K]>> | null };

type V1 = typeof cosigner.v1;

/** Every generated service: 'cosigner.v1.Parent' → the generated service class (instance). */
export type Services = {
  [K in keyof V1 as V1[K] extends abstract new (...a: never[]) => { rpcCall: unknown } ? `cosigner.v1.${K & string}` : never]: V1[K] extends abstract new (...a: never[]) => infer I ? I : never;
};
export type ServiceName = keyof Services;

/** The unary methods of a generated service class, by their .proto name (`BlobGet`). */
type Methods<S> = {
  [K in keyof S as S[K] extends { readonly name: infer N extends string; readonly requestStream: undefined; readonly responseStream: undefined } ? N : never]: S[K];
};
type MethodsOf<N extends ServiceName> = Methods<Services[N]>;
// The generated method type is overloaded (callback and promise); inference takes the last, the promise one.
type RequestOf<F> = F extends (request: infer Q) => Promise<unknown> ? Q : never;
type ResponseOf<F> = F extends (request: never) => Promise<infer R> ? R : never;

/** Request type of `Service/Method` as a handler receives it. */
export type RequestMessage<N extends ServiceName, Method extends keyof MethodsOf<N>> = Decoded<RequestOf<MethodsOf<N>[Method]>>;
/** Response type of `Service/Method` as a client receives it. */
export type ResponseMessage<N extends ServiceName, Method extends keyof MethodsOf<N>> = Decoded<ResponseOf<MethodsOf<N>[Method]>>;

/** An implementation of service N: every method, decoded request in, sendable response out. */
export type ServiceHandlers<N extends ServiceName> = {
  [Method in keyof MethodsOf<N>]: (req: Decoded<RequestOf<MethodsOf<N>[Method]>>, ctx: HandlerContext) => Promise<Input<ResponseOf<MethodsOf<N>[Method]>>>;
};

type ClientMethod<F> = (req?: Input<RequestOf<F>>, opts?: CallOptions) => Promise<Decoded<ResponseOf<F>>>;

/** A client of service N: each method under its .proto name and lowerCamelCase (as Peer.client builds it). */
export type ServiceClient<N extends ServiceName> = { [Method in keyof MethodsOf<N>]: ClientMethod<MethodsOf<N>[Method]> } & {
  [Method in keyof MethodsOf<N> as Uncapitalize<Method & string>]: ClientMethod<MethodsOf<N>[Method]>;
};

/** Peer.register with the types of service N. */
export function serveTyped<N extends ServiceName>(peer: Peer, service: N, impl: ServiceHandlers<N>): void {
  peer.register(service, impl as unknown as ServiceImpl);
}

/** Peer.client with the types of service N. */
export function typedClient<N extends ServiceName>(peer: Peer, service: N): ServiceClient<N> {
  return peer.client<ServiceClient<N>>(service);
}
