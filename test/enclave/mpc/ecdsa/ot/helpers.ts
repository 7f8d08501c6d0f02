// Test helpers for the OT layer: a seeded randomness source (tests only: production uses the
// CSPRNG), an in-memory run of the pairwise setup with a hook to tamper with messages in flight,
// and an assertion on the typed error a check must raise.
import { chacha20 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { expect } from 'vitest';
import type { Rng } from '../../../../../enclave/mpc/ecdsa/ot-api.ts';
import { otLayer } from '../../../../../enclave/mpc/ecdsa/ot/index.ts';
import { CosignerError } from '../../../../../proto/errors.ts';

export const te = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Deterministic bytes: ChaCha20 keystream under SHA-256(seed), one nonce per call. */
export function seededRng(seed: string): Rng {
  const key = sha256(te(seed));
  let counter = 0;
  return (n: number) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setUint32(8, counter++);
    return chacha20(key, nonce, new Uint8Array(n));
  };
}

export interface SetupRun {
  /** Pairwise state of participant 1 (towards 2) and of participant 2 (towards 1). */
  readonly state1: Uint8Array;
  readonly state2: Uint8Array;
  /** Every message in order: exchange k's message of 1, then of 2. */
  readonly messages: readonly Uint8Array[];
}

/** Rewrites the message `from` sends in exchange `exchange` (1-based) before the peer sees it. */
export type Tamper = (from: 1 | 2, exchange: number, msg: Uint8Array) => Uint8Array;

/** Runs the setup between participants 1 and 2 in memory; throws what the first failing side throws. */
export function runSetup(opts: { transcript?: Uint8Array; seed?: string; tamper?: Tamper; transcript2?: Uint8Array } = {}): SetupRun {
  const transcript = opts.transcript ?? te('keygen/session-1');
  const p1 = otLayer.pairwiseSetup({ transcript, self: 1, peer: 2, ...(opts.seed ? { rng: seededRng(opts.seed + '/1') } : {}) });
  const p2 = otLayer.pairwiseSetup({
    transcript: opts.transcript2 ?? transcript, self: 2, peer: 1, ...(opts.seed ? { rng: seededRng(opts.seed + '/2') } : {}),
  });
  const tamper = opts.tamper ?? ((_f, _e, m) => m);
  const messages: Uint8Array[] = [];
  let in1: Uint8Array | undefined;
  let in2: Uint8Array | undefined;
  for (let k = 1; k <= p1.exchanges; k++) {
    const m1 = p1.send(in1);
    const m2 = p2.send(in2);
    messages.push(m1, m2);
    in2 = tamper(1, k, m1);
    in1 = tamper(2, k, m2);
  }
  const state1 = p1.finish(in1!);
  const state2 = p2.finish(in2!);
  return { state1, state2, messages };
}

/** Asserts `f` throws a CosignerError with this code, and for ERR_PEER_CHEATED this peer and check. */
export function expectError(f: () => unknown, code: string, peer?: number, check?: string): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CosignerError);
  const e = caught as CosignerError;
  expect(e.code).toBe(code);
  if (peer !== undefined) expect(e.details).toEqual({ identifier: peer, check });
}

/** A copy of `msg` with one bit flipped at byte `at`. */
export function flip(msg: Uint8Array, at: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(msg);
  out[at]! ^= 1 << bit;
  return out;
}
