// Both sides of the coordinator link: the `pair.challenge` reply. Kept apart from attested-link.ts
// (the coordinator's verifier, which pulls in X.509 code) so the enclave bundle stays small.
import { obj, str } from './messages.ts';

const NONCE_HEX = /^[0-9a-f]{64}$/;

/** Parses a `pair.challenge` reply: the nonce, 32 bytes as lowercase hex. */
export function parsePairChallenge(v: unknown): string {
  const o = obj(v, 'pair.challenge', ['nonce']);
  return str(o.nonce, 'nonce', NONCE_HEX, 64);
}
