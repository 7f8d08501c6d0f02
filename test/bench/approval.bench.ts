// Benchmark: one approval round trip as the enclave makes it — TLS started on the enclave side,
// bytes carried by the parent's egress relay (parent/relay) through a JS stream like the wire's
// tunnels, JWS signed and verified — beside a direct HTTPS POST of the same signed request to the
// same sample handler (new connection each time), measured in the same run.
//   node --import tsx test/bench/approval.bench.ts
import https from 'node:https';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { generateKeyPairSync } from 'node:crypto';
import { CompactSign } from 'jose';
import { CallbackClient } from '../../enclave/approval/callback-client.ts';
import { buildTxSignRequest, serializePayload } from '../../enclave/approval/payload.ts';
import type { Dial } from '../../proto/ports.ts';
import { createRelay, parseAllowList } from '../../parent/relay/index.ts';
import { createEphemeralCa } from '../../local/local-ca.ts';
import { startSampleHandler } from '../../local/callback-handler/handler.ts';
import { loopbackDial } from '../../local/kms/loopback-dial.ts';
import { ethTx } from '../enclave/approval/helpers.ts';
import { asDuplex } from '../../local/kms/loopback-dial.ts'; // a plain JS Duplex, as the wire's streams reach the enclave's TLS

const ROUNDS = Number(process.env.APPROVAL_BENCH_ROUNDS ?? 200);
const WARMUP = 20;

function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function time(fn: (i: number) => Promise<void>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

const started = performance.now();
const ca = await createEphemeralCa();
const tls = await ca.issueServerCert();
const cosigner = generateKeyPairSync('rsa', { modulusLength: 2048 });
const cosignerPublicKeyPem = cosigner.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const handler = await startSampleHandler({ mode: 'public-key', tls, cosignerPublicKeyPem });
const port = Number(new URL(handler.url).port);
const settings = { url: handler.url, authMode: 'public-key' as const, handlerPublicKeyPem: handler.publicKeyPem };

const relay = createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port }] }), { maxConnections: 8 });
const relayDial: Dial = async (host, p) => asDuplex((await relay(host, p)) as net.Socket);
const viaRelay = new CallbackClient({ dial: relayDial, signingKey: cosigner.privateKey, caPem: ca.certPem });
const viaLoopback = new CallbackClient({ dial: loopbackDial().dial, signingKey: cosigner.privateKey, caPem: ca.certPem });
const req = (i: number) => buildTxSignRequest(ethTx({ txId: `bench-${i}`, requestId: `bench-${i}` }), { signerId: 'bench-user', stage: 'sign' });

// Baseline: the same signed request POSTed straight to the handler with node:https.
const signed = await new CompactSign(serializePayload(req(0))).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(cosigner.privateKey);
const direct = await time(
  () =>
    new Promise<void>((resolve, reject) => {
      const r = https.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/v2/tx_sign_request', ca: ca.certPem, agent: false, headers: { 'content-type': 'text/plain' } },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      r.on('error', reject);
      r.end(signed);
    }),
);
const loop = await time(async (i) => {
  await viaLoopback.ask({ id: 'bench-user', callback: settings }, 'tx_sign_request', req(i), { purpose: 'sign' });
});
const relayed = await time(async (i) => {
  await viaRelay.ask({ id: 'bench-user', callback: settings }, 'tx_sign_request', req(i), { purpose: 'sign' });
});
await handler.close();

const base = stats(direct);
const rows: [string, number[]][] = [
  ['direct HTTPS POST (baseline)', direct],
  ['CallbackClient, loopback Dial', loop],
  ['CallbackClient, relay + JS tunnel', relayed],
];
const pad = (s: string, n: number): string => s.padEnd(n);
const f = (n: number): string => n.toFixed(2).padStart(8);
process.stdout.write(`approval round trip, ${ROUNDS} rounds each (ms; ratio = p50 / baseline p50, p99 / baseline p99)\n`);
process.stdout.write(`${pad('path', 36)}${'p50'.padStart(8)}${'p99'.padStart(8)}${'mean'.padStart(8)}${'x p50'.padStart(8)}${'x p99'.padStart(8)}\n`);
for (const [name, samples] of rows) {
  const s = stats(samples);
  process.stdout.write(`${pad(name, 36)}${f(s.p50)}${f(s.p99)}${f(s.mean)}${(s.p50 / base.p50).toFixed(2).padStart(8)}${(s.p99 / base.p99).toFixed(2).padStart(8)}\n`);
}
process.stdout.write(`total ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
