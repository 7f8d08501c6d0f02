// TEST ONLY — INSECURE. A functional stand-in for the DKLs23 OT layer (enclave/mpc/ecdsa/ot-api.ts)
// so the protocol tests run before the real OT layer exists: the "setup" is a trivial exchange,
// msg1 carries the receiver's χ IN THE CLEAR and msg2 carries a·χ − c directly. It keeps the real
// layer's message pattern and its fail-closed behaviour on mismatched transcripts (every message
// carries a hash of the pairwise state, transcript and direction), nothing else. Never import it
// outside test/.
import { createHash, randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { mapHashToField } from '@noble/curves/abstract/modular.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { CosignerError } from '../../proto/errors.ts';
import type { OtLayer, PairwiseSetupParams, Rng, RvoleParams } from '../../enclave/mpc/ecdsa/ot-api.ts';

const Fn = secp256k1.Point.Fn;
const rngOf = (rng?: Rng): Rng => rng ?? ((n: number) => Uint8Array.from(randomBytes(n)));
const u16 = (n: number): Buffer => Buffer.of(n >> 8, n & 0xff);

function cheated(identifier: number, check: string): CosignerError {
  return new CosignerError('ERR_PEER_CHEATED', `ideal OT check failed: ${check}`, { details: { identifier, check } });
}

/** Names one RVOLE: pairwise state, transcript, sender → receiver. */
function rvoleTag(p: RvoleParams, sender: number, receiver: number): Buffer {
  return createHash('sha256').update('ideal-ot/rvole').update(p.pairwise).update(p.transcript).update(u16(sender)).update(u16(receiver)).digest();
}

function setupTag(p: PairwiseSetupParams): Buffer {
  const [a, b] = p.self < p.peer ? [p.self, p.peer] : [p.peer, p.self];
  return createHash('sha256').update('ideal-ot/setup').update(p.transcript).update(u16(a)).update(u16(b)).digest();
}

/** INSECURE ideal OT layer (tests only). */
export const idealOt: OtLayer = {
  pairwiseSetup(p) {
    const tag = setupTag(p);
    let state: 'new' | 'sent' | 'done' = 'new';
    return {
      exchanges: 1,
      send(incoming) {
        if (state !== 'new' || incoming !== undefined) throw new CosignerError('ERR_SESSION_ABORTED', 'ideal setup out of order');
        state = 'sent';
        return Uint8Array.from(tag);
      },
      finish(incoming) {
        if (state !== 'sent') throw new CosignerError('ERR_SESSION_ABORTED', 'ideal setup out of order');
        state = 'done';
        if (!(incoming instanceof Uint8Array) || !tag.equals(incoming)) throw cheated(p.peer, 'ot-setup');
        // The "pairwise state": the shared tag (both sides derive the same bytes).
        return Uint8Array.from(tag);
      },
      abort() {
        state = 'done';
      },
    };
  },
  rvoleReceive(p) {
    let chi = bytesToNumberBE(mapHashToField(rngOf(p.rng)(48), Fn.ORDER));
    const tag = rvoleTag(p, p.peer, p.self);
    let used = false;
    let aborted = false;
    return {
      get chi() {
        return chi;
      },
      msg1: Uint8Array.from(Buffer.concat([tag, Fn.toBytes(chi)])),
      finish(msg2) {
        if (aborted) throw new CosignerError('ERR_SESSION_ABORTED', 'ideal RVOLE receiver was aborted');
        if (used) throw new CosignerError('ERR_SESSION_ABORTED', 'ideal RVOLE receiver used twice');
        used = true;
        if (!(msg2 instanceof Uint8Array) || msg2.length !== 96 || !tag.equals(msg2.subarray(0, 32))) throw cheated(p.peer, 'ot-rvole');
        return [bytesToNumberBE(msg2.subarray(32, 64)) % Fn.ORDER, bytesToNumberBE(msg2.subarray(64, 96)) % Fn.ORDER];
      },
      abort() {
        aborted = true;
        chi = 0n;
      },
    };
  },
  rvoleSend(p) {
    const tag = rvoleTag(p, p.self, p.peer);
    if (!(p.msg1 instanceof Uint8Array) || p.msg1.length !== 64 || !tag.equals(p.msg1.subarray(0, 32))) throw cheated(p.peer, 'ot-rvole');
    const chi = bytesToNumberBE(p.msg1.subarray(32));
    const rng = rngOf(p.rng);
    const c = [0, 1].map(() => bytesToNumberBE(mapHashToField(rng(48), Fn.ORDER))) as [bigint, bigint];
    const d = p.inputs.map((a, k) => Fn.sub(Fn.mul(a, chi), c[k] as bigint));
    return { msg2: Uint8Array.from(Buffer.concat([tag, ...d.map((x) => Fn.toBytes(x))])), c };
  },
};
