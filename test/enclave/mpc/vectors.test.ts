// RFC 9591 Appendix E vectors (Ed25519-SHA512, secp256k1-SHA256) and the ZF FROST secp256k1-TR
// vector, replayed through FrostSigningSession and aggregateSignature with the vectors' randomness.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { aggregateSignature } from '../../../local/coordinator/aggregate.ts';
import { toHex } from '../../../proto/encoding/hex.ts';
import type { KeyShareLike } from '../../../enclave/mpc/key-package.ts';
import { FrostSigningSession, type WireCommitment } from '../../../enclave/mpc/signing-session.ts';
import { verifyWithStandardVerifier, type SuiteName } from '../../../enclave/mpc/suites.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const vectors = path.resolve(repoRoot, '..', 'shared', 'vectors');

interface Vector {
  inputs: {
    participant_list: number[];
    group_public_key?: string;
    verifying_key_key?: string;
    message: string;
    participant_shares: { identifier: number; participant_share: string }[];
    config?: never;
  };
  config: { MAX_PARTICIPANTS: string; MIN_PARTICIPANTS: string };
  round_one_outputs: { outputs: { identifier: number; hiding_nonce_randomness: string; binding_nonce_randomness: string; hiding_nonce_commitment: string; binding_nonce_commitment: string }[] };
  round_two_outputs: { outputs: { identifier: number; sig_share: string }[] };
  final_output: { sig: string };
}

function load(file: string): Vector {
  return JSON.parse(readFileSync(path.join(vectors, 'frost', file), 'utf8')) as Vector;
}

function verifyingShare(suite: SuiteName, shareHex: string): string {
  const s = BigInt('0x' + (suite === 'frost-ed25519' ? Buffer.from(shareHex, 'hex').reverse().toString('hex') : shareHex));
  return suite === 'frost-ed25519' ? ed25519.Point.BASE.multiply(s).toHex() : secp256k1.Point.BASE.multiply(s).toHex(true);
}

function keyFor(v: Vector, suite: SuiteName, identifier: number): KeyShareLike {
  const gpk = v.inputs.group_public_key ?? v.inputs.verifying_key_key ?? '';
  const all = v.inputs.participant_shares;
  return {
    keyId: 'vector',
    scheme: suite,
    threshold: Number(v.config.MIN_PARTICIPANTS),
    participants: all.map((p) => p.identifier),
    identifier,
    secretShare: all.find((p) => p.identifier === identifier)!.participant_share,
    groupPublicKey: gpk,
    verifyingShares: Object.fromEntries(all.map((p) => [String(p.identifier), verifyingShare(suite, p.participant_share)])),
    createdAt: 0,
  };
}

function replay(file: string, suite: SuiteName): { sig: Uint8Array; v: Vector; key: KeyShareLike } {
  const v = load(file);
  const message = Buffer.from(v.inputs.message, 'hex');
  const signers = v.inputs.participant_list;
  const sessions = signers.map((id) => {
    const r1 = v.round_one_outputs.outputs.find((o) => o.identifier === id)!;
    const queue = [r1.hiding_nonce_randomness, r1.binding_nonce_randomness];
    const rng = (n?: number) => {
      const next = queue.shift();
      if (next === undefined || n !== 32) throw new Error('unexpected rng call');
      return Uint8Array.from(Buffer.from(next, "hex")) as Uint8Array<ArrayBuffer>;
    };
    return new FrostSigningSession({ sessionId: 'vector-session', key: keyFor(v, suite, id), message, signers, rng });
  });
  const commitments: WireCommitment[] = sessions.map((s) => s.commit());
  for (const c of commitments) {
    const r1 = v.round_one_outputs.outputs.find((o) => o.identifier === c.identifier)!;
    expect(c.hiding).toBe(r1.hiding_nonce_commitment);
    expect(c.binding).toBe(r1.binding_nonce_commitment);
  }
  const shares: Record<number, string> = {};
  sessions.forEach((s, i) => {
    shares[signers[i]!] = s.sign(commitments, s.binding);
  });
  for (const o of v.round_two_outputs.outputs) expect(shares[o.identifier]).toBe(o.sig_share);
  const key = keyFor(v, suite, signers[0]!);
  const sig = aggregateSignature(key, message, commitments, shares);
  expect(toHex(sig)).toBe(v.final_output.sig);
  return { sig, v, key };
}

describe('FROST vectors through the project code path', () => {
  it('RFC 9591 FROST(Ed25519, SHA-512) and node:crypto verifies the result', () => {
    const { sig, v, key } = replay('frost-ed25519-sha512.json', 'frost-ed25519');
    const msg = Buffer.from(v.inputs.message, 'hex');
    expect(verifyWithStandardVerifier('frost-ed25519', Buffer.from(key.groupPublicKey, 'hex'), msg, sig)).toBe(true);
    expect(verifyWithStandardVerifier('frost-ed25519', Buffer.from(key.groupPublicKey, 'hex'), Buffer.from('tesT'), sig)).toBe(false);
  });

  it('RFC 9591 FROST(secp256k1, SHA-256)', () => {
    replay('frost-secp256k1-sha256.json', 'frost-secp256k1');
  });

  it('ZF FROST(secp256k1, SHA-256)-TR and BIP-340 schnorr.verify accepts it', () => {
    const { sig, v, key } = replay('zf-frost-secp256k1-tr.json', 'frost-secp256k1-tr');
    const msg = Buffer.from(v.inputs.message, 'hex');
    expect(schnorr.verify(sig, msg, Buffer.from(key.groupPublicKey, 'hex').subarray(1))).toBe(true);
    const bad = Uint8Array.from(sig);
    bad[63] = bad[63]! ^ 1;
    expect(verifyWithStandardVerifier('frost-secp256k1-tr', Buffer.from(key.groupPublicKey, 'hex'), msg, bad)).toBe(false);
  });
});
