// `make bench` (standalone: node --import tsx test/bench/e2e.bench.ts). End to end through the real
// parent daemon, the real enclave bundle and the Callback Handler: coordinator REST request →
// co-signer approval + threshold session → verified signature, at concurrency 1 and 32, beside the
// crypto-only cost of the same 2-of-2 FROST protocol measured in this run. Then the memory of the
// running enclave process, and what 1,000 sealed API users add to it (measured in a fresh process
// that opens a sealed DB of 1,000 synthetic users with the enclave's own sealed-DB code).
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { aggregateSignature } from '../../local/coordinator/aggregate.ts';
import { DkgSession, type WireDkgRound2 } from '../../enclave/mpc/dkg.ts';
import { FrostSigningSession } from '../../enclave/mpc/signing-session.ts';
import { verifyWithStandardVerifier } from '../../enclave/mpc/suites.ts';
import type { KeyShareRecord, SecretsState, ThresholdScheme } from '../../enclave/vault/records.ts';
import { sealDb } from '../../enclave/vault/sealed-db.ts';
import { verifyWithStandardVerifier as verifyFinal } from '../../local/demo.ts';
import { setUpStack } from '../e2e/helpers.ts';

const SCHEME: ThresholdScheme = 'frost-ed25519';
const N_CRYPTO = 60;
const N_C1 = 15;
const N_C32 = 64;
const USERS = 1000;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : Number.NaN;
};
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

function dkg(scheme: ThresholdScheme): KeyShareRecord[] {
  const ps = [1, 2].map((identifier) => new DkgSession({ scheme, threshold: 2, participants: [1, 2], identifier, now: 0 }));
  const r1 = ps.map((p) => p.round1());
  const r2: WireDkgRound2[] = ps.flatMap((p, i) => p.round2(r1.filter((_, j) => j !== i)));
  return ps.map((p, i) => p.round3(r2.filter((r) => r.to === i + 1)));
}

/** Both parties' rounds, aggregation and a standard verification, in one process: the floor. */
function cryptoOnly(): { p50: number; cpuMs: number } {
  const keys = dkg(SCHEME);
  const lat: number[] = [];
  const one = (i: number): void => {
    const msg = createHash('sha256').update(`crypto ${i}`).digest();
    const t0 = performance.now();
    const sessions = keys.map((key) => new FrostSigningSession({ sessionId: `c${i}`, key, message: msg, signers: [1, 2] }));
    const list = sessions.map((s) => s.commit());
    const shares: Record<number, string> = {};
    sessions.forEach((s, j) => (shares[j + 1] = s.sign(list, s.binding)));
    const sig = aggregateSignature(keys[0]!, msg, list, shares);
    if (!verifyWithStandardVerifier(SCHEME, Buffer.from(keys[0]!.groupPublicKey, 'hex'), msg, sig)) throw new Error('bad signature');
    lat.push(performance.now() - t0);
  };
  for (let i = 0; i < 5; i++) one(-i - 1);
  lat.length = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < N_CRYPTO; i++) one(i);
  const cpu = process.cpuUsage(cpu0);
  return { p50: pct(lat, 50), cpuMs: (cpu.user + cpu.system) / 1000 / N_CRYPTO };
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * What `users` sealed API users cost an enclave process: a sealed DB of synthetic users (two key
 * shares each, callback settings, approval key) is built here, then a fresh Node process opens it
 * with enclave/vault/sealed-db.ts and reports its heap and RSS before and after.
 */
function sealedUsersFootprint(users: number): { heapKiB: number; rssKiB: number; dbBytes: number; openMs: number } {
  const hex = (n: number): string => randomBytes(n).toString('hex');
  const approval = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex');
  const share = (scheme: ThresholdScheme): KeyShareRecord => ({
    keyId: `${scheme}:${hex(16)}`, scheme, threshold: 2, participants: [1, 2], identifier: 1, secretShare: hex(32),
    groupPublicKey: hex(scheme === 'frost-ed25519' ? 32 : 33), verifyingShares: { '1': hex(33), '2': hex(33) }, createdAt: Date.now(),
  });
  const state: SecretsState = {
    formatVersion: 1,
    identity: { cosignerId: 'bench', callbackSigningKeyPkcs8: hex(1200), coordinatorAuthKeyPkcs8: hex(48) },
    coordinator: { url: '127.0.0.1:1', publicKeyPem: 'x' },
    kms: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/x', region: 'us-east-1' },
    users: Array.from({ length: users }, (_, i) => ({
      id: `user-${i}`, workspace: 'ws', createdAt: Date.now(), status: 'active' as const, pairingNonce: hex(16),
      callback: { url: `https://handler-${i}.example.com`, authMode: 'public-key' as const, handlerPublicKeyPem: `-----BEGIN PUBLIC KEY-----\n${randomBytes(294).toString('base64')}\n-----END PUBLIC KEY-----\n` },
      approvalKeyPkcs8: approval, keyShares: [share('frost-ed25519'), share('frost-secp256k1-tr')],
    })),
  };
  const key = randomBytes(32);
  const dir = mkdtempSync(join(os.tmpdir(), 'cosigner-bench-'));
  try {
    const file = join(dir, 'secrets.db');
    writeFileSync(file, sealDb(key, 'secrets.db', 1n, 1n, state));
    const script = `
      import { readFileSync } from 'node:fs';
      import { openDb } from ${JSON.stringify(join(process.cwd(), 'enclave', 'vault', 'sealed-db.ts'))};
      const rss = () => Number(/VmRSS:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
      const heap = () => { const m = process.memoryUsage(); return (m.heapUsed + m.arrayBuffers) / 1024; };
      const blob = readFileSync(${JSON.stringify(file)});
      const key = Buffer.from(${JSON.stringify(key.toString('hex'))}, 'hex');
      globalThis.gc(); globalThis.gc();
      const r0 = rss(), h0 = heap();
      const t = performance.now();
      const opened = openDb(key, 'secrets.db', blob);
      const openMs = performance.now() - t;
      globalThis.gc(); globalThis.gc();
      if (opened.state.users.length !== ${users}) throw new Error('wrong count');
      process.stdout.write(JSON.stringify({ heapKiB: heap() - h0, rssKiB: rss() - r0, dbBytes: blob.length, openMs }));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`footprint child failed: ${r.stderr.slice(0, 500)}`);
    return JSON.parse(r.stdout) as { heapKiB: number; rssKiB: number; dbBytes: number; openMs: number };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  process.stdout.write(`e2e bench: ${os.cpus().length} cores, node ${process.version}\n`);
  const crypto = cryptoOnly();
  const fp = sealedUsersFootprint(USERS);
  const cryptoBound = os.cpus().length / crypto.cpuMs * 1000;

  process.stdout.write('e2e bench: starting the local stack (daemon, enclave bundle, stand-ins) and pairing a user…\n');
  const e = await setUpStack({ userId: 'bench-user', callback: { timeoutMs: 30_000 } });
  try {
    const runOne = async (i: number): Promise<number> => {
      const payload = createHash('sha256').update(`e2e ${i} ${randomBytes(8).toString('hex')}`).digest('hex');
      const s = performance.now();
      const tx = await e.tx({ asset: 'ETH', amount: '1', scheme: SCHEME, payload });
      const ms = performance.now() - s;
      if (tx.status !== 'signed' || !verifyFinal(tx)) throw new Error(`transaction ${i} not signed: ${tx.status} ${JSON.stringify(tx.error ?? {})}`);
      return ms;
    };
    process.stdout.write(`e2e bench: stack ready after ${((Date.now() - t0) / 1000).toFixed(1)} s; measuring\n`);
    for (let i = 0; i < 5; i++) await runOne(-i - 1); // warm-up (JIT, TLS sessions)
    const c1: number[] = [];
    const w1 = performance.now();
    for (let i = 0; i < N_C1; i++) c1.push(await runOne(i));
    const c1Rate = (N_C1 / (performance.now() - w1)) * 1000;

    const c32: number[] = [];
    let next = 0;
    const w32 = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N_C32) {
          const i = next++;
          c32.push(await runOne(1000 + i));
        }
      }),
    );
    const c32Rate = (N_C32 / (performance.now() - w32)) * 1000;

    const enclavePid = Number(readFileSync(join(e.stack.paths.home, 'run', 'enclave.pid'), 'utf8').trim());
    const enclaveRss = rssKiB(enclavePid);

    const rows: [string, string, string, string][] = [
      ['crypto-only 2-of-2 FROST (in process)', `p50 ${f(crypto.p50, 2)} ms`, `${f(cryptoBound, 0)} sig/s bound (${os.cpus().length} cores / ${f(crypto.cpuMs, 2)} ms CPU)`, '1.00× (baseline)'],
      ['e2e c=1 (REST → approval → session → verified)', `p50 ${f(pct(c1, 50))} ms, p99 ${f(pct(c1, 99))} ms`, `${f(c1Rate, 1)} sig/s`, `p50 ${f(pct(c1, 50) / crypto.p50, 2)}× crypto-only`],
      ['e2e c=32', `p50 ${f(pct(c32, 50))} ms, p99 ${f(pct(c32, 99))} ms`, `${f(c32Rate, 1)} sig/s`, `${f(c32Rate / cryptoBound, 3)}× crypto-bound throughput`],
    ];
    process.stdout.write('\n| measurement | latency | throughput | ratio |\n|---|---|---|---|\n');
    for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
    process.stdout.write('\n| memory | KiB | ratio |\n|---|---|---|\n');
    process.stdout.write(`| enclave process RSS now (1 user, after ${N_C1 + N_C32} signatures) | ${enclaveRss} | 1.00× (baseline) |\n`);
    const added = Math.max(fp.heapKiB, fp.rssKiB);
    process.stdout.write(`| + ${USERS} sealed API users opened (fresh process: heap +${f(fp.heapKiB, 0)} KiB, RSS +${fp.rssKiB} KiB; DB ${(fp.dbBytes / 1024).toFixed(0)} KiB, opened in ${f(fp.openMs)} ms) | ${f(added, 0)} | ${f(added / enclaveRss, 3)}× |\n`);
    process.stdout.write(`| estimated enclave RSS with ${USERS} users | ${f(enclaveRss + added, 0)} | ${f((enclaveRss + added) / enclaveRss, 2)}× |\n`);
    process.stdout.write(`\nNotes: every e2e signature passed the sample Callback Handler (JWS both ways, HTTPS from a local-CA certificate, TLS started in the enclave) and was checked with node:crypto Ed25519; the wire is a unix socket, not vsock. ${((Date.now() - t0) / 1000).toFixed(1)} s total.\n`);
  } finally {
    await e.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`e2e bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
