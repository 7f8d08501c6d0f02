// Both sides. CosignerError <-> the `Error` message, by enum number: the receiver never matches text.
import { CosignerError, isErrorCode, type ErrorCode } from '../errors.ts';
import { loadSchema } from './schema.ts';

/** cosigner.v1.Error as it is encoded: `code` is the ErrorCode enum number. */
export interface WireError {
  code: number;
  message: string;
  retryable: boolean;
}

const MAX_MESSAGE = 1024;

function codeNumber(code: ErrorCode): number {
  return loadSchema().ErrorCode.values[code] ?? 0;
}

/**
 * Turns anything thrown into a wire Error. Only a CosignerError keeps its message: any other error
 * becomes ERR_INTERNAL with a fixed text, because its message may hold data we must not ship.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof CosignerError) {
    return { code: codeNumber(err.code), message: err.message.slice(0, MAX_MESSAGE), retryable: err.retryable };
  }
  return { code: codeNumber('ERR_INTERNAL'), message: 'internal error', retryable: false };
}

/** Rebuilds a CosignerError from a decoded wire Error; an unknown or missing code becomes `fallback`. */
export function fromWireError(w: { code?: unknown; message?: unknown; retryable?: unknown } | null | undefined, fallback: ErrorCode = 'ERR_INTERNAL'): CosignerError {
  const name = typeof w?.code === 'number' ? loadSchema().ErrorCode.valuesById[w.code] : undefined;
  const code: ErrorCode = name !== undefined && isErrorCode(name) ? name : fallback;
  const message = typeof w?.message === 'string' && w.message.length > 0 ? w.message.slice(0, MAX_MESSAGE) : code;
  return new CosignerError(code, message, { retryable: typeof w?.retryable === 'boolean' ? w.retryable : undefined });
}
