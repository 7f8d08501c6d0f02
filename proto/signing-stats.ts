// Shared by the enclave and the parent. The label sets and latency buckets of the signing and
// Callback Handler counters the enclave reports in StatusResponse.stats (proto/control.proto): fixed
// here so the enclave cannot grow them and the parent can create every series at 0 from the start.

/** Signature schemes counted by name; anything else counts as `other`. */
export const SIGNING_SCHEMES = ['frost-ed25519', 'frost-secp256k1-tr', 'dkls23-secp256k1', 'other'] as const;
/** How a signing request ended: signed, refused by the approval step, or failed (timeout, protocol error). */
export const SIGNING_OUTCOMES = ['signed', 'rejected', 'failed'] as const;
/** Callback Handler answers, plus `error` for calls that produced no valid answer. */
export const CALLBACK_ACTIONS = ['APPROVE', 'REJECT', 'RETRY', 'IGNORE', 'error'] as const;
/** Upper bounds in seconds (5 ms … 2 min: FROST rounds and handler round trips); one count per bucket plus one above. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export type SigningScheme = (typeof SIGNING_SCHEMES)[number];
export type SigningOutcome = (typeof SIGNING_OUTCOMES)[number];
export type CallbackAction = (typeof CALLBACK_ACTIONS)[number];
