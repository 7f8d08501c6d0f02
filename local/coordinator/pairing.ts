// Reference coordinator (test stand-in, loopback only). Pairing a co-signer for a user: the pairing
// token, then DKG per scheme with the co-signer as participant 1 while the coordinator holds the
// other participants' shares, and the sealed-DB generation marks a paired co-signer reports.
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { CosignerError } from '../../proto/errors.ts';
import { DkgSession, type WireDkgRound1, type WireDkgRound2 } from '../../enclave/mpc/dkg.ts';
import { isThresholdScheme } from '../../enclave/mpc/suites.ts';
import { ed25519PublicKey, spkiB64 } from '../../proto/coordinator/envelope.ts';
import { isWireGeneration } from '../../proto/coordinator/handshake.ts';
import { parseDkgRound1List, parseDkgRound2List } from '../../proto/coordinator/messages.ts';
import { verifyPairingToken } from '../../proto/coordinator/pairing-token.ts';
import { decodeDocument, PAIR_CHALLENGE_TTL_MS, verifyCosignerAttestation } from '../../proto/coordinator/attested-link.ts';
import { decodeCoseSign1, decodePayload } from '../../proto/attestation/document.ts';
import { parseSummary } from './attestation.ts';
import type { ThresholdScheme } from '../../enclave/vault/records.ts';
import { markEntry, persist, raiseMark, type CoordinatorState, type Pairing } from './state.ts';
import { proposeChange } from './changes.ts';
import { appendAudit } from './audit-log.ts';
import { claimToken, finishedPairing, pairCommit, tokenBlocked } from './pairing-commit.ts';
import { parseEcdsaDkg } from '../../proto/coordinator/ecdsa-messages.ts';
import { CoordinatorRelay } from './ecdsa-relay.ts';
import { ecdsaRefresh, ecdsaRefreshCommit } from './ecdsa-refresh.ts';

/** The authenticated co-signer a request came from. */
export interface CosignerContext {
  readonly cosignerId: string;
  readonly clientKey: KeyObject;
}

type Body = Record<string, unknown>;

function pairingFor(st: CoordinatorState, ctx: { cosignerId: string }, pairingId: unknown, scheme: unknown): Pairing {
  const p = st.pairings.get(String(pairingId));
  if (!p || p.cosignerId !== ctx.cosignerId) throw new CosignerError('ERR_NOT_FOUND', 'no such pairing');
  if (!isThresholdScheme(scheme) || !p.schemes.includes(scheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'scheme not in this pairing');
  return p;
}

function pairChallenge(st: CoordinatorState, ctx: CosignerContext): unknown {
  const now = st.now();
  for (const [n, c] of st.challenges) if (c.expiresAt <= now) st.challenges.delete(n);
  if (st.challenges.size >= 1024) throw new CosignerError('ERR_BUSY', 'too many outstanding pairing challenges');
  const nonce = randomBytes(32).toString('hex');
  st.challenges.set(nonce, { cosignerId: ctx.cosignerId, expiresAt: now + PAIR_CHALLENGE_TTL_MS });
  return { nonce };
}

/** A pairing is bound to an enclave attested just now for this request, not to the token holder. */
function checkPairingAttestation(st: CoordinatorState, ctx: CosignerContext, b: Body): void {
  const policy = st.attestation;
  if (!policy) throw new CosignerError('ERR_ATTESTATION_REFUSED', 'this coordinator has no attestation policy configured');
  const document = decodeDocument(b.attestation);
  // Which challenge the document claims (unverified: only a lookup key); the full check below
  // then requires exactly that nonce. A challenge is single use, whatever the outcome.
  let claimed: string;
  try {
    claimed = Buffer.from(decodePayload(decodeCoseSign1(document).payload).nonce ?? new Uint8Array(0)).toString('hex');
  } catch {
    throw new CosignerError('ERR_ATTESTATION_REFUSED', 'attestation document does not parse');
  }
  const c = st.challenges.get(claimed);
  if (!c || c.cosignerId !== ctx.cosignerId || c.expiresAt <= st.now()) throw new CosignerError('ERR_ATTESTATION_REFUSED', 'pair.register needs a document carrying a fresh pair.challenge nonce');
  st.challenges.delete(claimed);
  verifyCosignerAttestation(document, { nonce: Buffer.from(claimed, 'hex'), authKey: ctx.clientKey, cosignerId: ctx.cosignerId, coordinatorKey: st.key.publicKey, ownerKey: st.ownerKey.publicKey }, policy);
}

function pairRegister(st: CoordinatorState, ctx: CosignerContext, b: Body): unknown {
  checkPairingAttestation(st, ctx, b);
  const claims = verifyPairingToken(b.token, { coordinatorKey: st.key.publicKey, now: st.now(), isUsed: (nonce) => tokenBlocked(st, ctx, nonce) });
  if (st.users.has(claims.userId)) throw new CosignerError('ERR_ALREADY_EXISTS', 'user already paired');
  claimToken(st, ctx, claims.nonce, claims.userId);
  const schemes = Array.isArray(b.schemes) ? b.schemes : [];
  if (schemes.length === 0 || schemes.length > 3 || new Set(schemes).size !== schemes.length || !schemes.every(isThresholdScheme)) throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'bad schemes');
  const pairing: Pairing = {
    id: randomUUID(),
    userId: claims.userId,
    workspace: claims.workspace,
    cosignerId: ctx.cosignerId,
    cosignerKey: ctx.clientKey,
    attestedAuthKey: spkiB64(ctx.clientKey),
    approvalPublicKey: ed25519PublicKey(String(b.approvalPublicKey)),
    schemes: schemes as ThresholdScheme[],
    dkg: new Map(),
    keys: [],
    startedAt: st.now(),
  };
  st.pairings.set(pairing.id, pairing);
  return { pairingId: pairing.id, userId: claims.userId, workspace: claims.workspace, threshold: st.threshold, participants: st.participants, identifier: 1 };
}

function dkgRound1(st: CoordinatorState, ctx: CosignerContext, b: Body): unknown {
  const { threshold, participants } = st;
  const p = pairingFor(st, ctx, b.pairingId, b.scheme);
  const scheme = b.scheme as ThresholdScheme;
  // Threshold ECDSA keys come from their own protocol (ecdsa.dkg), never from FROST's rounds.
  if (scheme === 'dkls23-secp256k1') throw new CosignerError('ERR_UNSUPPORTED_SCHEME', 'dkls23-secp256k1 keys are generated with ecdsa.dkg');
  if (p.dkg.has(scheme)) throw new CosignerError('ERR_SESSION_ABORTED', 'DKG round 1 repeated');
  const cosigner1 = parseDkgRound1List({ packages: [b.package] })[0] as WireDkgRound1;
  if (cosigner1.identifier !== 1) throw new CosignerError('ERR_INVALID_ARGUMENT', 'co-signer is participant 1');
  const parties = participants.slice(1).map((identifier) => new DkgSession({ scheme, threshold, participants, identifier, now: st.now() }));
  const round1 = parties.map((d) => d.round1());
  p.dkg.set(scheme, { parties, round1, cosigner1 });
  return { packages: round1 };
}

function dkgRound2(st: CoordinatorState, ctx: CosignerContext, b: Body): unknown {
  const { participants } = st;
  const p = pairingFor(st, ctx, b.pairingId, b.scheme);
  const s = p.dkg.get(b.scheme as ThresholdScheme);
  if (!s?.cosigner1 || s.result) throw new CosignerError('ERR_SESSION_ABORTED', 'DKG round 2 out of order');
  const fromCosigner = parseDkgRound2List({ packages: b.packages });
  const all1 = [s.cosigner1, ...s.round1];
  const own2: WireDkgRound2[] = s.parties.flatMap((d, i) => d.round2(all1.filter((r) => r.identifier !== participants[i + 1])));
  const all2 = [...fromCosigner, ...own2];
  s.result = s.parties.map((d, i) => d.round3(all2.filter((r) => r.to === participants[i + 1])));
  return { packages: own2.filter((r) => r.to === 1) };
}

/**
 * `ecdsa.dkg` round r: the co-signer's round-r messages in; the own parties step with round r-1's
 * (ecdsa-relay.ts) and their round-r messages for the co-signer go back. The co-signer's last
 * request (after its party finished) lets the own parties finish; dkg.finish then compares.
 */
function ecdsaDkg(st: CoordinatorState, ctx: CosignerContext, v: unknown): unknown {
  const b = parseEcdsaDkg(v);
  const p = pairingFor(st, ctx, b.pairingId, b.scheme);
  const { threshold, participants } = st;
  if (b.round === 1) {
    if (p.ecdsaDkg) throw new CosignerError('ERR_SESSION_ABORTED', 'ECDSA DKG round 1 repeated');
    const parties = participants.slice(1).map((identifier) => st.ecdsa.dkg({ threshold, participants, identifier, now: st.now() }));
    p.ecdsaDkg = { relay: new CoordinatorRelay(parties), pending: [] };
  }
  const s = p.ecdsaDkg;
  if (!s || b.round !== s.relay.round + 1 || s.relay.done) {
    s?.relay.abort();
    st.pairings.delete(p.id);
    throw new CosignerError('ERR_SESSION_ABORTED', 'ECDSA DKG round out of order: pairing aborted');
  }
  try {
    const messages = s.relay.advance(s.pending);
    s.pending = b.messages;
    return { messages };
  } catch (err) {
    st.pairings.delete(p.id);
    throw err;
  }
}

function dkgFinish(st: CoordinatorState, ctx: CosignerContext, b: Body): unknown {
  const p = pairingFor(st, ctx, b.pairingId, b.scheme);
  const scheme = b.scheme as ThresholdScheme;
  const s = scheme === 'dkls23-secp256k1' ? (p.ecdsaDkg?.relay.done ? { result: p.ecdsaDkg.relay.done } : undefined) : p.dkg.get(scheme);
  const first = s?.result?.[0];
  if (!s?.result || !first) throw new CosignerError('ERR_SESSION_ABORTED', 'DKG finish out of order');
  const agreed = b.groupPublicKey === first.groupPublicKey && b.keyId === first.keyId && b.chainCode === first.chainCode;
  if (!agreed || JSON.stringify(b.verifyingShares) !== JSON.stringify(first.verifyingShares)) {
    st.pairings.delete(p.id);
    throw new CosignerError('ERR_BAD_SHARE', 'co-signer and coordinator disagree on the DKG result', { details: { identifier: 1 } });
  }
  p.keys.push({ scheme, keyId: first.keyId, groupPublicKey: first.groupPublicKey, ...(first.chainCode !== undefined ? { chainCode: first.chainCode } : {}), own: [...s.result] });
  // The user is committed only by pair.commit, once the co-signer sealed its share. The co-signer
  // is registered now: its sealed write waits for the coordinator's ack of the new generation.
  if (p.keys.length === p.schemes.length) {
    const prov = st.provisional.get(ctx.cosignerId);
    if (!st.cosigners.has(ctx.cosignerId)) st.cosigners.set(ctx.cosignerId, { key: spkiB64(ctx.clientKey), ...(prov ? { conn: prov.conn } : {}) });
    st.provisional.delete(ctx.cosignerId);
    persist(st);
  }
  return { keyId: first.keyId };
}

/** The co-signer reports what the owner is asked to approve; only for its own finished pairing. */
function pairSummary(st: CoordinatorState, ctx: CosignerContext, b: Body): unknown {
  const summary = parseSummary(b.summary);
  const user = finishedPairing(st, ctx, summary.userId);
  if (!user || summary.cosignerId !== ctx.cosignerId) throw new CosignerError('ERR_NOT_FOUND', 'no such finished pairing of this co-signer');
  // The chain code is part of what the owner approves: every derived address follows from it.
  const named = (k: { keyId: string; groupPublicKey: string; chainCode?: unknown }): string => `${k.keyId}:${k.groupPublicKey}:${String(k.chainCode ?? '')}`;
  const ours = user.keys.map(named).sort().join(',');
  if (summary.keys.map(named).sort().join(',') !== ours) throw new CosignerError('ERR_INVALID_ARGUMENT', 'the summary names other keys than the DKG produced');
  user.summary = summary;
  return {};
}

function stateGeneration(st: CoordinatorState, ctx: CosignerContext, b: Body): unknown {
  if (typeof b !== 'object' || Object.keys(b).join(',') !== 'generation' || !isWireGeneration(b.generation)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'state.generation takes { generation }');
  const m = markEntry(st, ctx.cosignerId, ctx.clientKey, true);
  if (!m) throw new CosignerError('ERR_PERMISSION_DENIED', 'generation marks are kept for paired co-signers only');
  if (b.generation < m.generation) throw new CosignerError('ERR_ROLLBACK', 'generation is below the high-water mark');
  return { generation: raiseMark(st, ctx.cosignerId, ctx.clientKey, b.generation) };
}

/** A request from a connected co-signer. */
export async function handleCosigner(st: CoordinatorState, ctx: CosignerContext, type: string, body: unknown): Promise<unknown> {
  const b = (body ?? {}) as Body;
  switch (type) {
    case 'pair.challenge':
      return pairChallenge(st, ctx);
    case 'pair.register':
      return pairRegister(st, ctx, b);
    case 'pair.summary':
      return pairSummary(st, ctx, b);
    case 'dkg.round1':
      return dkgRound1(st, ctx, b);
    case 'dkg.round2':
      return dkgRound2(st, ctx, b);
    case 'dkg.finish':
      return dkgFinish(st, ctx, b);
    case 'ecdsa.dkg':
      return ecdsaDkg(st, ctx, body);
    case 'ecdsa.refresh':
      return ecdsaRefresh(st, ctx, body);
    case 'ecdsa.refresh.commit':
      return ecdsaRefreshCommit(st, ctx, body);
    case 'pair.commit':
      return pairCommit(st, ctx, b);
    case 'state.generation':
      return stateGeneration(st, ctx, b);
    case 'change.propose':
      return proposeChange(st, ctx.cosignerId, body);
    case 'audit.record':
      return appendAudit(st, ctx, body);
    case 'pair.abort': {
      const p = st.pairings.get(String(b.pairingId));
      if (p && p.cosignerId === ctx.cosignerId) st.pairings.delete(p.id);
      return {};
    }
    default:
      throw new CosignerError('ERR_UNKNOWN_METHOD', 'unknown request type');
  }
}
