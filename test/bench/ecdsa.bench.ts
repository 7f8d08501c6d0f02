// Benchmark: threshold ECDSA (DKLs23) in process, crypto only — key generation (2-of-2, 2-of-3),
// signing (2-of-2, 2 of a 2-of-3 key) and the bytes each round puts on the wire — beside 2-of-2
// FROST signing measured in the same run as the baseline. Both parties run in this one thread, one
// after the other (as the FROST baseline does), so a signature's latency here is the sum of both
// parties' work; across two machines each party's share runs in parallel.
//   node --import tsx test/bench/ecdsa.bench.ts [--quick]
import { DkgSession, type WireDkgRound2 } from '../../enclave/mpc/dkg.ts';
import { FrostSigningSession } from '../../enclave/mpc/signing-session.ts';
import { aggregateSignature } from '../../local/coordinator/aggregate.ts';
import { verifyWithStandardVerifier } from '../../enclave/mpc/suites.ts';
import { createEcdsaDkg, type EcdsaKeyShare } from '../../enclave/mpc/ecdsa/keygen.ts';
import { createEcdsaSigning } from '../../enclave/mpc/ecdsa/signing.ts';
import { verifyEcdsa, type EcdsaSignature } from '../../enclave/mpc/ecdsa/signature.ts';
import { otLayer } from '../../enclave/mpc/ecdsa/ot/index.ts';
import type { PartyMessage, RoundParty } from '../../enclave/mpc/ecdsa/party.ts';
import type { KeyShareRecord } from '../../enclave/vault/records.ts';

const quick = process.argv.includes('--quick');
const N_SIGN = quick ? 16 : 48;
const N_DKG = quick ? 2 : 4;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** Routes each round's messages as the coordinator does; records bytes per round (payloads only). */
function run<T>(parties: readonly RoundParty<T>[], sizes?: number[][], stopAfter?: number): T[] {
  let inFlight: PartyMessage[] = [];
  const results = new Map<number, T>();
  for (let round = 1; round <= 12; round++) {
    const next: PartyMessage[] = [];
    for (const p of parties) {
      if (results.has(p.identifier)) continue;
      const mine = round === 1 ? [] : inFlight.filter((m) => m.from !== p.identifier && (m.to === p.identifier || m.to === 0));
      const out = p.step(mine);
      next.push(...out.messages);
      if (out.result !== undefined) results.set(p.identifier, out.result);
    }
    if (sizes) {
      // per sender: bytes it sent this round (a broadcast counted once per recipient, as a star relays it)
      const per = parties.map((p) => next.filter((m) => m.from === p.identifier).reduce((n, m) => n + m.payload.length * (m.to === 0 ? parties.length - 1 : 1), 0));
      if (per.some((n) => n > 0)) sizes.push(per);
    }
    if (results.size === parties.length || (stopAfter !== undefined && round >= stopAfter)) return parties.map((p) => results.get(p.identifier) as T);
    inFlight = next;
  }
  throw new Error('protocol did not finish');
}

function ecdsaDkg(threshold: number, participants: number[], sizes?: number[][]): EcdsaKeyShare[] {
  return run(participants.map((identifier) => createEcdsaDkg({ threshold, participants, identifier, now: 0, ot: otLayer })), sizes);
}

function ecdsaSign(keys: EcdsaKeyShare[], signers: number[], i: number, sizes?: number[][]): EcdsaSignature {
  const digest = new Uint8Array(32).fill(i & 0xff);
  digest[0] = 0x42;
  const parties = keys.filter((k) => signers.includes(k.identifier)).map((key) => createEcdsaSigning({ sessionId: `b${i}`, key, digest, signers, ot: otLayer }));
  const sig = run(parties, sizes)[0] as EcdsaSignature;
  if (!verifyEcdsa(sig, digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'))) throw new Error('bad ECDSA signature');
  return sig;
}

function frostKeys(): KeyShareRecord[] {
  const ps = [1, 2].map((identifier) => new DkgSession({ scheme: 'frost-secp256k1-tr', threshold: 2, participants: [1, 2], identifier, now: 0 }));
  const r1 = ps.map((p) => p.round1());
  const r2: WireDkgRound2[] = ps.flatMap((p, i) => p.round2(r1.filter((_, j) => j !== i)));
  return ps.map((p, i) => p.round3(r2.filter((r) => r.to === i + 1)));
}

function frostSign(keys: KeyShareRecord[], i: number): void {
  const msg = Buffer.from(`bench message ${i}`.padEnd(32, '.'));
  const sessions = keys.map((key) => new FrostSigningSession({ sessionId: `f${i}`, key, message: msg, signers: [1, 2] }));
  const list = sessions.map((s) => s.commit());
  const shares: Record<number, string> = {};
  sessions.forEach((s, j) => (shares[j + 1] = s.sign(list, s.binding)));
  const sig = aggregateSignature(keys[0]!, msg, list, shares);
  if (!verifyWithStandardVerifier('frost-secp256k1-tr', Buffer.from(keys[0]!.groupPublicKey, 'hex'), msg, sig)) throw new Error('bad FROST signature');
}

function timeIt(n: number, fn: (i: number) => void): number[] {
  for (let i = 0; i < Math.min(6, n); i++) fn(-i - 1); // warm-up (JIT)
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn(i);
    lat.push(performance.now() - t0);
  }
  return lat;
}

function main(): void {
  const frost = frostKeys();
  const frostLat = timeIt(N_SIGN, (i) => frostSign(frost, i));
  const dkgRows: string[][] = [];
  const keys: Record<string, EcdsaKeyShare[]> = {};
  for (const [t, ps] of [[2, [1, 2]], [2, [1, 2, 3]]] as const) {
    const lat: number[] = [];
    const sizes: number[][] = [];
    for (let i = 0; i < N_DKG; i++) {
      const t0 = performance.now();
      keys[`${t}-of-${ps.length}`] = ecdsaDkg(t, [...ps], i === 0 ? sizes : undefined);
      lat.push(performance.now() - t0);
    }
    dkgRows.push([`${t}-of-${ps.length}`, f(pct(lat, 50), 0), f(Math.max(...lat), 0), sizes.map((r) => r.map((b) => (b / 1024).toFixed(1)).join('/')).join(' | ')]);
  }
  const signRows: string[][] = [];
  const frostP50 = pct(frostLat, 50);
  signRows.push(['frost-secp256k1-tr 2-of-2 (baseline)', f(frostP50), f(pct(frostLat, 99)), '1.00×', '-']);
  for (const [name, k, signers] of [['dkls23 2-of-2', '2-of-2', [1, 2]], ['dkls23 2 of 2-of-3', '2-of-3', [1, 3]]] as const) {
    const sizes: number[][] = [];
    ecdsaSign(keys[k]!, [...signers], 999, sizes);
    const lat = timeIt(N_SIGN, (i) => void ecdsaSign(keys[k]!, [...signers], i));
    signRows.push([name, f(pct(lat, 50)), f(pct(lat, 99)), `${f(pct(lat, 50) / frostP50, 2)}×`, sizes.map((r) => r.map((b) => (b / 1024).toFixed(1)).join('/')).join(' | ')]);
  }
  const table = (head: string[], rows: string[][]): void => {
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]): string => r.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ');
    console.log(line(head));
    for (const r of rows) console.log(line(r));
  };
  console.log(`threshold ECDSA (DKLs23), crypto only, in process, both parties in this thread; n=${N_SIGN} signatures, ${N_DKG} key generations each`);
  console.log('\nkey generation (target ≤ 5 s)');
  table(['key', 'p50 ms', 'max ms', 'KiB sent per party per round (party1/party2/…)'], dkgRows);
  console.log('\nsigning (target: 2-of-2 p50 ≤ 60 ms); ratio against 2-of-2 FROST in this run');
  table(['scheme', 'p50 ms', 'p99 ms', 'vs FROST', 'KiB sent per party per round'], signRows);
}

main();
