// The OT-extension consistency check (revised KOS15 Fig. 10, column-wise, 256-bit hash per column)
// against the receiver's classic attack: other choice bits in one column j, with the check value
// of that column corrected for a guess g of the sender's Δ_j. It must pass exactly when g = Δ_j
// (the one bit the attacker pays for with an abort half the time) and never otherwise.
import { beforeAll, describe, expect, it } from 'vitest';
import { COL_BYTES, KAPPA, OTE_ROWS, SEED_BYTES, XI, concat, expand, hashTagged, indexedHash, u32 } from '../../../../../enclave/mpc/ecdsa/ot/common.ts';
import { ghash } from '@noble/ciphers/_polyval.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CHECK_BYTES, ChallengeMul, OTE_MSG_BYTES, U_BYTES, checkChallenges, columnHash, instanceIdOf, oteReceive, oteSend } from '../../../../../enclave/mpc/ecdsa/ot/extension.ts';
import { decodeState } from '../../../../../enclave/mpc/ecdsa/ot/pairwise.ts';
import { expectError, runSetup, seededRng, te, type SetupRun } from './helpers.ts';

let setup: SetupRun;
beforeAll(() => {
  setup = runSetup({ seed: 'extension-tests' });
});

/** msg1's OT part from receiver 2 to sender 1 with column j's choice bits XORed with e and t̃_j corrected for guess g. */
function cheatingMsg(instance: Uint8Array, x: Uint8Array, j: number, e: Uint8Array, g: 0 | 1): Uint8Array {
  const recv = decodeState(setup.state2, 2, 1);
  const honest = oteReceive(recv.senderSeeds, instance, x).msg;
  const msg = Uint8Array.from(honest);
  for (let b = 0; b < COL_BYTES; b++) msg[j * COL_BYTES + b]! ^= e[b]!;
  const chi = checkChallenges(instance, msg.subarray(0, U_BYTES));
  const keyOf = indexedHash('ote/prg', SEED_BYTES, instance);
  columnHash(x, chi, msg, U_BYTES);
  const he = new Uint8Array(CHECK_BYTES);
  columnHash(e, chi, he, 0);
  for (let k = 0; k < KAPPA; k++) {
    const t0 = expand(keyOf(k, recv.senderSeeds.subarray(2 * k * SEED_BYTES, (2 * k + 1) * SEED_BYTES)), COL_BYTES);
    const off = U_BYTES + CHECK_BYTES + k * CHECK_BYTES;
    columnHash(t0, chi, msg, off);
    if (k === j && g === 1) for (let b = 0; b < CHECK_BYTES; b++) msg[off + b]! ^= he[b]!;
  }
  return msg;
}

describe('OT extension consistency check (revised KOS15)', () => {
  it('sizes: ℓ\' covers ξ data rows plus ≥ κ + s mask rows; one 256-bit check value per column', () => {
    expect(OTE_ROWS).toBe(768);
    expect(OTE_ROWS - 512 >= KAPPA + 80 && 512 >= XI).toBe(true);
    expect(OTE_MSG_BYTES).toBe(128 * 96 + 32 + 128 * 32);
  });

  it('the reused SHA-256 of indexedHash equals a fresh one-shot hash on every call', () => {
    const rng = seededRng('ext/sha');
    const prefix = hashTagged('t', te('part'));
    const h = indexedHash('t', 16, te('part'));
    for (let i = 0; i < 6; i++) {
      const data = rng(16);
      expect(h(i, data, i % 3)).toEqual(sha256(concat(prefix, u32(i), data, Uint8Array.of(i % 3))));
    }
  });

  it('a reused keyed GHASH (ChallengeMul) gives the one-shot ghash product χ·X for every block', () => {
    const rng = seededRng('ext/ghash');
    for (let trial = 0; trial < 8; trial++) {
      const chi = rng(16);
      const mul = new ChallengeMul(chi);
      for (let b = 0; b < 4; b++) {
        const block = rng(16);
        const acc = new Uint32Array(4);
        mul.mulXor(new DataView(block.buffer, block.byteOffset, 16), 0, acc);
        expect(new Uint8Array(acc.buffer)).toEqual(ghash(block, chi));
      }
    }
  });

  it('a receiver with other choice bits in one column passes only by guessing Δ_j', () => {
    const send = decodeState(setup.state1, 1, 2);
    const x = seededRng('ext/x')(COL_BYTES);
    const e = new Uint8Array(COL_BYTES);
    e[3] = 0x10; // choice bit of row 28 (a β row) flipped in this column only
    for (const j of [0, 5, 77, 127]) {
      const instance = instanceIdOf(send.setupId, 2, 1, te(`ext/${j}`), new Uint8Array(32));
      const deltaJ = (send.delta[j >> 3]! >> (j & 7)) & 1;
      for (const g of [0, 1] as const) {
        const msg = cheatingMsg(instance, x, j, e, g);
        const run = () => oteSend(decodeState(setup.state1, 1, 2).delta, send.receiverSeeds, instance, msg, 2);
        if (g === deltaJ) expect(run().length).toBe(OTE_ROWS * 16);
        else expectError(run, 'ERR_PEER_CHEATED', 2, 'ote-consistency');
      }
    }
  });

  it('other choice bits in one column without a correction are caught, in data and in mask rows', () => {
    const send = decodeState(setup.state1, 1, 2);
    const x = seededRng('ext/x2')(COL_BYTES);
    const instance = instanceIdOf(send.setupId, 2, 1, te('ext/plain'), new Uint8Array(32));
    for (const at of [0, 51, 63, 64, 95]) {
      const e = new Uint8Array(COL_BYTES);
      e[at] = 1;
      for (const j of [0, 127]) {
        const deltaJ = (send.delta[j >> 3]! >> (j & 7)) & 1;
        // g = 1 − Δ_j: the wrong correction (g = 0 is "no correction", caught when Δ_j = 1).
        const msg = cheatingMsg(instance, x, j, e, deltaJ === 1 ? 0 : 1);
        expectError(() => oteSend(send.delta, send.receiverSeeds, instance, msg, 2), 'ERR_PEER_CHEATED', 2, 'ote-consistency');
      }
    }
  });
});
