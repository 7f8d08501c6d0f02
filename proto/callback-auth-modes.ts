// Shared contract (enclave and parent). The one list of Callback Handler authentication modes: the
// enclave's validators, the parent's control protocol and CLI take it from here, and a test checks
// proto/control.proto and docs/callback-handler.md against it, so a mode cannot be accepted on one
// side and refused (or silently mis-handled) on the other.

/**
 * Every mode a user's Callback Handler can be configured with. What each one means (JWS or plain
 * JSON, SPKI pin or CA chain) is decided in the enclave (enclave/approval/settings.ts).
 *
 * @example
 * if (!isCallbackAuthMode(flag)) throw usage(`--auth-mode must be one of ${CALLBACK_AUTH_MODES.join(', ')}`);
 */
export const CALLBACK_AUTH_MODES = ['public-key', 'certificate', 'root-ca', 'public-key+certificate', 'public-key+root-ca'] as const;

export type CallbackAuthMode = (typeof CALLBACK_AUTH_MODES)[number];

/** The mode used when a handler is configured without naming one. */
export const DEFAULT_CALLBACK_AUTH_MODE: CallbackAuthMode = 'public-key';

/** True when `value` names one of CALLBACK_AUTH_MODES exactly (no case folding, no trimming). */
export function isCallbackAuthMode(value: unknown): value is CallbackAuthMode {
  return typeof value === 'string' && (CALLBACK_AUTH_MODES as readonly string[]).includes(value);
}
