// Runs in the enclave (and the reference coordinator). Where threshold ECDSA runs execute: the
// asynchronous face of HostCore (core.ts) that sessions, pairing and refresh use, either in this
// thread (tests, the reference coordinator) or in worker threads (pool.ts, the enclave).
import { CosignerError, isErrorCode } from '../../../../proto/errors.ts';
import type { PartyMessage, StepOutput } from '../party.ts';
import { HostCore, type RunSpec } from './core.ts';
import type { EcdsaProtocols } from './protocols.ts';

export type { RunSpec };

/** Runs DKLs23 protocol parties by run id. Every method's inputs and outputs are plain data. */
export interface EcdsaHost {
  /** Creates a run's party. */
  start(runId: string, spec: RunSpec): Promise<void>;
  /** One round of a run (see RoundParty.step); a failure or a result ends the run. */
  step(runId: string, incoming: readonly PartyMessage[]): Promise<StepOutput<unknown>>;
  /** Ends a run and erases its secrets (idempotent, never throws). */
  abort(runId: string): void;
  /** Stops the host: every run ends. */
  close(): Promise<void>;
}

/** A host that runs every party in this thread. */
export function inProcessHost(protocols: EcdsaProtocols): EcdsaHost {
  const core = new HostCore(protocols);
  return {
    start: async (runId, spec) => core.start(runId, spec),
    step: async (runId, incoming) => core.step(runId, incoming),
    abort: (runId) => core.abort(runId),
    close: async () => core.abortAll(),
  };
}

/** An error as it crosses a thread boundary: code, message, details (never a secret). */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, string | number | boolean>;
}

export function errorToWire(err: unknown): WireError {
  if (err instanceof CosignerError) return { code: err.code, message: err.message, ...(err.details ? { details: { ...err.details } } : {}) };
  return { code: 'ERR_INTERNAL', message: err instanceof Error ? err.message.slice(0, 300) : 'threshold ECDSA worker failed' };
}

export function errorFromWire(w: WireError): CosignerError {
  const code = isErrorCode(w?.code) ? w.code : 'ERR_INTERNAL';
  return new CosignerError(code, String(w?.message ?? '').slice(0, 300), w?.details ? { details: w.details } : {});
}
