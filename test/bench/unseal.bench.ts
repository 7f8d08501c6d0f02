// Benchmark: cold unseal (what an enclave boot pays before it can sign), broken into stages:
// RSA-2048 key generation, attestation document, KMS Decrypt-with-Recipient round trip (fresh TLS
// through the Dial), CMS envelope opening, secrets DB open. Baseline, measured in the same run on the
// same stand-in and tunnel: a plain KMS Decrypt (no Recipient) on a fresh client.
//   node --import tsx test/bench/unseal.bench.ts
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../enclave/kms/client.ts';
import { RollbackGuard, Vault, type UnsealTimings } from '../../enclave/vault/vault.ts';
import { sampleState, startStack } from '../enclave/vault/stack.ts';

const ROUNDS = Number(process.env.UNSEAL_BENCH_ROUNDS ?? 15);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))] ?? NaN;

const s = await startStack();
const deadline = Date.now() + 45_000;
try {
  const ID = 'bench';
  (await Vault.setup({ kms: s.kmsClient(), attestor: s.attestor(), blobs: s.blobs, keyArn: s.keyArn, cosignerId: ID, initialState: sampleState(ID), guard: new RollbackGuard() })).close();

  const adminClient = () =>
    createKmsClient({
      region: 'us-east-1', endpoint: `https://localhost:${s.kms.port}`, caPem: s.ca.certPem, dial: s.recorder.dial, maxAttempts: 1,
      credentials: { get: async () => ({ accessKeyId: 'AKIDADMIN', secretAccessKey: 'admin-secret' }) },
    });
  const setupClient = adminClient();
  const plainKey = (await setupClient.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const blob = (await setupClient.send(new EncryptCommand({ KeyId: plainKey, Plaintext: Buffer.alloc(32, 1) }))).CiphertextBlob!;
  setupClient.destroy();

  const baseline: number[] = [];
  const rows: Record<keyof UnsealTimings | 'total', number[]> = { rsaKeygenMs: [], attestMs: [], kmsMs: [], openMs: [], dbOpenMs: [], total: [] };
  for (let i = 0; i < ROUNDS && Date.now() < deadline; i++) {
    const c = adminClient();
    let t = performance.now();
    await c.send(new DecryptCommand({ CiphertextBlob: blob }));
    baseline.push(performance.now() - t);
    c.destroy();

    const timings: UnsealTimings = { rsaKeygenMs: 0, attestMs: 0, kmsMs: 0, openMs: 0, dbOpenMs: 0 };
    const kms = s.kmsClient();
    t = performance.now();
    const v = await Vault.unseal({ kms, attestor: s.attestor(), blobs: s.blobs, cosignerId: ID, guard: new RollbackGuard(), timings });
    rows.total.push(performance.now() - t);
    v.close();
    kms.destroy();
    for (const k of Object.keys(timings) as (keyof UnsealTimings)[]) rows[k].push(timings[k]);
  }
  const base = median(baseline);
  const label: Record<string, string> = {
    rsaKeygenMs: 'RSA-2048 key generation',
    attestMs: 'attestation document (dev authority)',
    kmsMs: 'KMS Decrypt+Recipient round trip',
    openMs: 'CMS envelope open (OAEP + AES-CBC)',
    dbOpenMs: 'secrets DB open (AES-GCM + JSON)',
    total: 'cold unseal, total',
  };
  console.log(`cold unseal, ${baseline.length} rounds; baseline = plain KMS Decrypt (fresh TLS via Dial), median ${base.toFixed(2)} ms`);
  console.log('| stage | median ms | p90 ms | × baseline |');
  console.log('|---|---:|---:|---:|');
  console.log(`| baseline: plain Decrypt, no Recipient | ${base.toFixed(2)} | ${p90(baseline).toFixed(2)} | 1.00 |`);
  for (const [k, xs] of Object.entries(rows)) {
    console.log(`| ${label[k]} | ${median(xs).toFixed(2)} | ${p90(xs).toFixed(2)} | ${(median(xs) / base).toFixed(2)} |`);
  }
} finally {
  await s.close();
}
