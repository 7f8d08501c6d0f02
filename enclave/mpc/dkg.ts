// Runs in the enclave (and in the reference coordinator for its own parties). One participant of
// FROST distributed key generation (the Pedersen DKG with proofs of knowledge that @noble/curves
// implements, split into the three rounds frost-rs uses). No party ever holds the group secret.
// Round-2 packages are secret: they travel only inside the TLS session that terminates in the
// enclave, addressed to one recipient.
import { createHash, randomBytes } from 'node:crypto';
import type { DKG_Round1, DKG_Round2, DKG_Secret, FROST, RNG } from '@noble/curves/abstract/frost.js';
import { CosignerError } from '../../proto/errors.ts';
import type { KeyShareRecord, ThresholdScheme } from '../vault/records.ts';
import { fromHex, toHex } from '../../proto/encoding/hex.ts';
import { checkParticipants } from './key-package.ts';
import { identifierOf, isValidElement, suiteFor } from './suites.ts';
import { chainCodeCommitment, combineChainCode, untweakTaprootDkg } from './dkg-chain-code.ts';
import type { WireDkgRound1, WireDkgRound2 } from '../../proto/coordinator/mpc-wire.ts';
export type { WireDkgRound1, WireDkgRound2 };


export interface DkgParams {
  readonly scheme: ThresholdScheme;
  readonly threshold: number;
  readonly participants: readonly number[];
  readonly identifier: number;
  /** Creation time stamped on the resulting record. */
  readonly now: number;
  /** Randomness for the polynomial, proof nonce and chain-code contribution. Only tests seed one. */
  readonly rng?: (bytes: number) => Uint8Array;
}

type Step = 'new' | 'round1' | 'round2' | 'done' | 'aborted';

/** The key id both sides derive from a finished DKG: scheme and SHA-256 of the group key. */
export function keyIdFor(scheme: ThresholdScheme, groupPublicKey: string): string {
  return `${scheme}:${createHash('sha256').update(groupPublicKey, 'hex').digest('hex').slice(0, 32)}`;
}

/** One participant's DKG state machine: round1 → round2 → round3, each exactly once. */
export class DkgSession {
  private readonly suite: FROST;
  private readonly params: DkgParams;
  private secret: DKG_Secret | undefined;
  private round1In: DKG_Round1[] = [];
  /** Own round-1 commitment (the untweaked taproot group key is the sum of every first point). */
  private ownCommitment: Uint8Array[] = [];
  /** Own chain-code contribution (revealed in round 2) and every peer's round-1 commitment to theirs. */
  private chainContribution: Uint8Array | undefined;
  private chainCommitments = new Map<number, string>();
  private step: Step = 'new';
  private readonly pointBytes: number;
  /** Proof of knowledge (R ‖ z): 64 bytes where R is x-only or Ed25519, 65 for plain secp256k1. */
  private readonly pokBytes: number;

  constructor(params: DkgParams) {
    // dkls23-secp256k1 (threshold ECDSA) shares come from the same Pedersen DKG over plain RFC 9591
    // secp256k1: only the suite differs from the scheme name the record carries.
    this.suite = suiteFor(params.scheme === 'dkls23-secp256k1' ? 'frost-secp256k1' : params.scheme);
    checkParticipants(params.threshold, params.participants, params.identifier);
    this.params = { ...params, participants: [...params.participants].sort((a, b) => a - b) };
    this.pointBytes = params.scheme === 'frost-ed25519' ? 32 : 33;
    this.pokBytes = params.scheme === 'dkls23-secp256k1' ? 65 : 64;
  }

  private fail(code: 'ERR_SESSION_ABORTED' | 'ERR_BAD_SHARE' | 'ERR_INVALID_ARGUMENT', message: string, details?: Record<string, string | number>): never {
    this.abort();
    throw new CosignerError(code, message, details ? { details } : {});
  }

  private expect(step: Step): void {
    if (this.step !== step) this.fail('ERR_SESSION_ABORTED', 'DKG round out of order or repeated: session aborted');
  }

  /** Round 1: this participant's commitment and proof of knowledge, to broadcast. */
  round1(): WireDkgRound1 {
    this.expect('new');
    const { public: pub, secret } = this.suite.DKG.round1(identifierOf(this.suite, this.params.identifier), {
      min: this.params.threshold,
      max: this.params.participants.length,
    }, undefined, this.params.rng as RNG | undefined);
    this.secret = secret;
    this.ownCommitment = pub.commitment;
    this.chainContribution = Uint8Array.from(this.params.rng ? this.params.rng(32) : randomBytes(32));
    this.step = 'round1';
    return {
      identifier: this.params.identifier,
      commitment: pub.commitment.map(toHex),
      proofOfKnowledge: toHex(pub.proofOfKnowledge),
      chainCodeCommitment: chainCodeCommitment(this.params.scheme, this.params.identifier, pub.commitment[0] as Uint8Array, this.chainContribution),
    };
  }

  /** Round 2: checks every peer's round-1 broadcast, returns one secret package per peer. */
  round2(others: readonly WireDkgRound1[]): WireDkgRound2[] {
    this.expect('round1');
    const peers = this.params.participants.filter((p) => p !== this.params.identifier);
    if (!Array.isArray(others) || others.length !== peers.length) this.fail('ERR_SESSION_ABORTED', 'DKG round 1 set does not match the participants');
    const seen = new Set<number>();
    const parsed: DKG_Round1[] = [];
    for (const o of others) {
      const from = o?.identifier;
      if (typeof from !== 'number' || !peers.includes(from) || seen.has(from)) this.fail('ERR_SESSION_ABORTED', 'DKG round 1 from an unknown or duplicate participant');
      seen.add(from);
      if (!Array.isArray(o.commitment) || o.commitment.length !== this.params.threshold) this.fail('ERR_BAD_SHARE', 'DKG commitment has the wrong length', { identifier: from });
      let commitment: Uint8Array[] = [];
      let proof: Uint8Array = new Uint8Array(0);
      try {
        commitment = o.commitment.map((c: unknown) => fromHex(c, { bytes: this.pointBytes, field: 'commitment' }));
        proof = fromHex(o.proofOfKnowledge, { bytes: this.pokBytes, field: 'proofOfKnowledge' });
        fromHex(o.chainCodeCommitment, { bytes: 32, field: 'chainCodeCommitment' });
      } catch {
        this.fail('ERR_BAD_SHARE', 'malformed DKG round 1 package', { identifier: from });
      }
      if (!commitment.every((c) => isValidElement(this.params.scheme, c))) this.fail('ERR_BAD_SHARE', 'invalid DKG commitment point', { identifier: from });
      parsed.push({ identifier: identifierOf(this.suite, from), commitment, proofOfKnowledge: proof } as DKG_Round1);
      this.chainCommitments.set(from, o.chainCodeCommitment);
    }
    let out: Record<string, DKG_Round2>;
    try {
      out = this.suite.DKG.round2(this.secret as DKG_Secret, parsed);
    } catch {
      const culprit = this.blameRound1(parsed);
      this.fail('ERR_BAD_SHARE', 'DKG proof of knowledge does not verify', culprit === undefined ? undefined : { identifier: culprit });
    }
    this.round1In = parsed;
    this.step = 'round2';
    const byHex = new Map(peers.map((p) => [identifierOf(this.suite, p), p]));
    const reveal = toHex(this.chainContribution as Uint8Array);
    return Object.entries(out).map(([to, pkg]) => ({ from: this.params.identifier, to: byHex.get(to) as number, signingShare: toHex(pkg.signingShare), chainCodeReveal: reveal }));
  }

  /**
   * Round 3: checks each peer's secret package against its commitment (a bad one is named in
   * ERR_BAD_SHARE) and returns the new key share record.
   */
  round3(received: readonly WireDkgRound2[]): KeyShareRecord {
    this.expect('round2');
    const peers = this.params.participants.filter((p) => p !== this.params.identifier);
    if (!Array.isArray(received) || received.length !== peers.length) this.fail('ERR_SESSION_ABORTED', 'DKG round 2 set does not match the participants');
    const seen = new Set<number>();
    const pkgs: DKG_Round2[] = [];
    const contributions = new Map<number, Uint8Array>([[this.params.identifier, this.chainContribution as Uint8Array]]);
    const me = identifierOf(this.suite, this.params.identifier);
    for (const r of received) {
      const from = r?.from;
      if (typeof from !== 'number' || !peers.includes(from) || seen.has(from) || r.to !== this.params.identifier) {
        this.fail('ERR_SESSION_ABORTED', 'DKG round 2 from an unknown or duplicate participant, or for another one');
      }
      seen.add(from);
      let share: Uint8Array;
      try {
        share = fromHex(r.signingShare, { bytes: 32, field: 'signingShare' });
      } catch {
        this.fail('ERR_BAD_SHARE', 'malformed DKG share', { identifier: from });
      }
      const fromHexId = identifierOf(this.suite, from);
      const r1 = this.round1In.find((p) => p.identifier === fromHexId) as DKG_Round1;
      contributions.set(from, this.checkReveal(r, r1));
      try {
        // RFC 9591 Appendix C.2 vss_verify of this one peer's share against its own commitment.
        this.suite.validateSecret({ identifier: me, signingShare: share }, { signers: { min: this.params.threshold, max: this.params.participants.length }, commitments: r1.commitment, verifyingShares: {} });
      } catch {
        this.fail('ERR_BAD_SHARE', 'DKG share does not match its commitment', { identifier: from });
      }
      pkgs.push({ identifier: fromHexId, signingShare: share } as DKG_Round2);
    }
    let key;
    try {
      key = this.suite.DKG.round3(this.secret as DKG_Secret, this.round1In, pkgs);
    } catch {
      this.fail('ERR_SESSION_ABORTED', 'DKG finalisation failed');
    }
    let verifying: Record<string, Uint8Array> = {};
    for (const p of this.params.participants) {
      const v = key.public.verifyingShares[identifierOf(this.suite, p)];
      if (v === undefined) this.fail('ERR_SESSION_ABORTED', 'DKG result lacks a verifying share');
      verifying[String(p)] = v;
    }
    let group: Uint8Array = key.public.commitments[0] as Uint8Array;
    let secretShare: Uint8Array = key.secret.signingShare;
    if (this.params.scheme === 'frost-secp256k1-tr') {
      // noble tweaks taproot DKG output with the BIP-86 empty merkle root; derivation needs the
      // internal key (paths are derived from it, then tweaked per path), so undo that tweak.
      const firsts = [this.ownCommitment[0], ...this.round1In.map((p) => p.commitment[0])] as Uint8Array[];
      try {
        ({ group, secretShare, verifying } = untweakTaprootDkg(firsts, group, secretShare, verifying));
      } catch {
        this.fail('ERR_SESSION_ABORTED', 'DKG finalisation failed');
      }
    }
    this.step = 'done';
    this.secret = undefined;
    const chainCode = combineChainCode(this.params.scheme, contributions);
    this.dropContribution();
    const groupPublicKey = toHex(group);
    const verifyingShares: Record<string, string> = {};
    for (const [p, v] of Object.entries(verifying)) verifyingShares[p] = toHex(v);
    return {
      keyId: keyIdFor(this.params.scheme, groupPublicKey),
      scheme: this.params.scheme,
      threshold: this.params.threshold,
      participants: this.params.participants,
      identifier: this.params.identifier,
      secretShare: toHex(secretShare),
      groupPublicKey,
      verifyingShares,
      createdAt: this.params.now,
      chainCode,
    };
  }

  /** The peer's chain-code contribution if it opens its round-1 commitment; else the peer is blamed. */
  private checkReveal(r: WireDkgRound2, r1: DKG_Round1): Uint8Array {
    let reveal: Uint8Array;
    try {
      reveal = fromHex(r.chainCodeReveal, { bytes: 32, field: 'chainCodeReveal' });
    } catch {
      this.fail('ERR_BAD_SHARE', 'missing or malformed chain-code reveal', { identifier: r.from });
    }
    const expected = chainCodeCommitment(this.params.scheme, r.from, r1.commitment[0] as Uint8Array, reveal);
    if (expected !== this.chainCommitments.get(r.from)) this.fail('ERR_BAD_SHARE', 'chain-code reveal does not open its round-1 commitment', { identifier: r.from });
    return reveal;
  }

  private dropContribution(): void {
    this.chainContribution?.fill(0);
    this.chainContribution = undefined;
  }

  /** Erases the local polynomial; the session cannot continue. */
  abort(): void {
    if (this.secret) this.suite.DKG.clean(this.secret);
    this.secret = undefined;
    if (this.step !== 'done') this.dropContribution();
    if (this.step !== 'done') this.step = 'aborted';
  }

  /**
   * Finds which round-1 package fails its proof: each one is checked alone in a scratch DKG whose
   * other members are freshly generated (so honest) packages.
   */
  private blameRound1(parsed: readonly DKG_Round1[]): number | undefined {
    const t = this.params.threshold;
    const signers = { min: t, max: t };
    for (const p of parsed) {
      const from = this.params.participants.find((n) => identifierOf(this.suite, n) === p.identifier);
      if (from === undefined) continue;
      const free = Array.from({ length: t + 1 }, (_, i) => i + 1).filter((n) => n !== from);
      const probe = this.suite.DKG.round1(identifierOf(this.suite, free[0] as number), signers);
      const fillers = free.slice(1, t - 1).map((n) => this.suite.DKG.round1(identifierOf(this.suite, n), signers));
      try {
        this.suite.DKG.round2(probe.secret, [p, ...fillers.map((f) => f.public)]);
      } catch {
        return from;
      } finally {
        this.suite.DKG.clean(probe.secret);
        for (const f of fillers) this.suite.DKG.clean(f.secret);
      }
    }
    return undefined;
  }
}
