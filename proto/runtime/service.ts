// Both sides. The shapes a service implementation and a client call see: kept apart from the
// connection code so the message types can change without touching the runtime.
import type protobuf from 'protobufjs';

/** Per-call options of a client method. */
export interface CallOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
}

/** Context handed to a handler: `signal` aborts on cancellation, deadline or connection loss. */
export interface HandlerContext {
  signal: AbortSignal;
}

/** A service implementation: method name (as in the .proto, e.g. `BlobGet`) → handler. */
// Method syntax (bivariant) so a handler typed for its own request fits; proto/runtime/typed-service.ts types them per service.
export type ServiceImpl = Record<string, { handle(req: unknown, ctx: HandlerContext): Promise<unknown> }['handle']>;

/** One registered method: its handler and the message types it decodes and encodes. */
export type Handler = { fn: (req: any, ctx: HandlerContext) => Promise<any>; req: protobuf.Type; res: protobuf.Type };
