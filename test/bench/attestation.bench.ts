// `make bench` (attestation). Measured in the same run, each beside its baseline:
//   verification of a real AWS document at its timestamp (warm CA cache, and cold)
//     vs  the bare ES384 verifications it cannot avoid (1 COSE + 4 certificate links);
//   development document generation (DevAttestor.attest)  vs  a bare ES384 sign of the same bytes.
import { createPrivateKey, generateKeyPairSync, sign, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCoseSign1, decodePayload, sigStructure } from '../../proto/attestation/document.ts';
import { DevAttestor, DevAuthority } from '../../enclave/dev/dev-authority.ts';
import { clearVerifierCache, verifyAttestation } from '../../proto/attestation/verify.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const vectors = path.resolve(repoRoot, '..', 'shared', 'vectors', 'attestation');
const DOC = new Uint8Array(readFileSync(path.join(vectors, 'att_sequence_prod_rsa_pubkey_2025-04-04.cose')));
const AT = 1743791947519;
const BUDGET_MS = Number(process.env.ATTEST_BENCH_MS ?? 2500);

/** Runs fn repeatedly for about `ms` (after a short warm-up) and returns operations per second. */
async function rate(fn: () => unknown | Promise<unknown>, ms = BUDGET_MS): Promise<number> {
  for (let i = 0; i < 20; i++) await fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 10; i++) await fn();
    n += 10;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

async function main(): Promise<void> {
  // Baseline for verification: the five P-384 signature checks any verifier must do.
  const cose = decodeCoseSign1(DOC);
  const p = decodePayload(cose.payload);
  const tbs = sigStructure(cose.protectedBytes, cose.payload);
  const leaf = new X509Certificate(p.certificate);
  const chain = [...p.cabundle.map((c) => new X509Certificate(c)), leaf];
  const bareVerify = (): void => {
    if (!verify('sha384', tbs, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, cose.signature)) throw new Error('baseline');
    for (let i = 1; i < chain.length; i++) if (!(chain[i] as X509Certificate).verify((chain[i - 1] as X509Certificate).publicKey)) throw new Error('baseline');
  };
  const baseVerify = await rate(bareVerify);
  const warm = await rate(() => verifyAttestation(DOC, { at: AT }));
  const cold = await rate(() => {
    clearVerifierCache();
    verifyAttestation(DOC, { at: AT });
  });

  // Baseline for generation: one bare ES384 sign of a same-sized Sig_structure.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const key = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const baseSign = await rate(() => sign('sha384', tbs, { key, dsaEncoding: 'ieee-p1363' }));
  const authority = await DevAuthority.createEphemeral();
  const attestor = new DevAttestor({ authority, bundleBytes: new Uint8Array(1 << 20) });
  const nonce = new Uint8Array(32).fill(1);
  const gen = await rate(() => attestor.attest({ nonce }));
  const t0 = performance.now();
  await DevAuthority.createEphemeral();
  const caMs = performance.now() - t0;

  const rows: [string, number, string, number][] = [
    ['verify real AWS doc (warm CA cache)', warm, 'bare ES384 verify ×5', baseVerify],
    ['verify real AWS doc (cold, no cache)', cold, 'bare ES384 verify ×5', baseVerify],
    ['dev document generation', gen, 'bare ES384 sign ×1', baseSign],
  ];
  const w = 38;
  process.stdout.write(`${'measure'.padEnd(w)}${'ops/s'.padStart(10)}${'ms/op'.padStart(9)}   ${'baseline'.padEnd(22)}${'ops/s'.padStart(10)}${'ratio'.padStart(8)}\n`);
  for (const [name, r, bname, b] of rows) {
    process.stdout.write(`${name.padEnd(w)}${r.toFixed(0).padStart(10)}${(1000 / r).toFixed(2).padStart(9)}   ${bname.padEnd(22)}${b.toFixed(0).padStart(10)}${(r / b).toFixed(2).padStart(8)}\n`);
  }
  process.stdout.write(`(ratio = ops/s ÷ baseline ops/s; one-off: dev CA root+intermediate+leaf creation ${caMs.toFixed(0)} ms)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`attestation bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
