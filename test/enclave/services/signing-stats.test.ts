// The enclave's signing and Callback Handler counters: bounded label sets, fixed buckets, every
// series in the snapshot from the start, and real Callback Handler calls moving them; then the
// parent's mirror turning a snapshot into the exported Prometheus series.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackClient } from '../../../enclave/approval/callback-client.ts';
import { recordSignature, signingStatsSnapshot, type SigningStatsSnapshot } from '../../../enclave/services/signing-stats.ts';
import { startSampleHandler, type SampleHandler } from '../../../local/callback-handler/handler.ts';
import { createEphemeralCa, type LocalCa } from '../../../local/local-ca.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import { createCosignerMetrics, renderMetrics } from '../../../parent/metrics/cosigner-metrics.ts';
import { EnclaveStatsMirror } from '../../../parent/metrics/enclave-stats.ts';
import { CALLBACK_ACTIONS, LATENCY_BUCKETS_S, SIGNING_OUTCOMES, SIGNING_SCHEMES } from '../../../proto/signing-stats.ts';
import { cosignerKey, fakeClock, signRequest } from '../approval/helpers.ts';

const USER = 'api-user-1';
let ca: LocalCa;
let handler: SampleHandler;
const key = cosignerKey();

beforeAll(async () => {
  ca = await createEphemeralCa();
  handler = await startSampleHandler({ mode: 'public-key', tls: await ca.issueServerCert(), cosignerPublicKeyPem: key.publicKeyPem, rules: { maxAmountPerAsset: { ETH: '1' } } });
});
afterAll(async () => {
  await handler?.close();
});

const approvals = (s: SigningStatsSnapshot): Record<string, number> => Object.fromEntries(s.approvals.map((a) => [a.action, a.count]));
const signed = (s: SigningStatsSnapshot, scheme: string, outcome: string): number => s.signatures.find((x) => x.scheme === scheme && x.outcome === outcome)?.count ?? -1;

describe('enclave signing stats', () => {
  it('the snapshot holds every scheme × outcome and every action from the start, with one count per bucket', () => {
    const s = signingStatsSnapshot();
    expect(s.epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(s.signatures).toHaveLength(SIGNING_SCHEMES.length * SIGNING_OUTCOMES.length);
    expect(s.approvals.map((a) => a.action)).toEqual([...CALLBACK_ACTIONS]);
    expect(s.callbackSeconds.counts).toHaveLength(LATENCY_BUCKETS_S.length + 1);
    expect(s.signingSeconds.map((h) => h.scheme)).toEqual([...SIGNING_SCHEMES]);
  });

  it('recordSignature: unknown schemes count as other and unknown outcomes as failed, so the label set cannot grow', () => {
    const before = signingStatsSnapshot();
    recordSignature('frost-ed25519', 'signed', 120);
    recordSignature('rsa-attacker-chosen', 'signed', 5);
    recordSignature('frost-secp256k1-tr', '"}\nx', 200_000);
    recordSignature('frost-ed25519', 'failed', Number.NaN);
    const after = signingStatsSnapshot();
    expect(after.signatures).toHaveLength(before.signatures.length);
    expect(signed(after, 'frost-ed25519', 'signed') - signed(before, 'frost-ed25519', 'signed')).toBe(1);
    expect(signed(after, 'other', 'signed') - signed(before, 'other', 'signed')).toBe(1);
    expect(signed(after, 'frost-secp256k1-tr', 'failed') - signed(before, 'frost-secp256k1-tr', 'failed')).toBe(1);
    const tr = after.signingSeconds.find((h) => h.scheme === 'frost-secp256k1-tr')!.histogram;
    expect(tr.counts.at(-1)).toBeGreaterThanOrEqual(1); // 200 s is above every bound
    const ed = after.signingSeconds.find((h) => h.scheme === 'frost-ed25519')!.histogram;
    expect(Number.isFinite(ed.sum)).toBe(true); // NaN latency counted as 0
    expect(JSON.stringify(after)).not.toContain('attacker');
  });

  it('Callback Handler calls move the counters: APPROVE, REJECT and an unreachable handler (error), each with its latency', async () => {
    const client = new CallbackClient({ dial: loopbackDial().dial, signingKey: key.privateKey, caPem: ca.certPem, clock: fakeClock(), callTimeoutMs: 5_000 });
    const settings = { url: handler.url, authMode: 'public-key' as const, handlerPublicKeyPem: handler.publicKeyPem };
    const before = signingStatsSnapshot();
    await client.ask({ id: USER, callback: settings }, 'tx_sign_request', signRequest(USER), { purpose: 'sign' });
    await expect(client.ask({ id: USER, callback: settings }, 'tx_sign_request', signRequest(USER, { amount: 5, amountStr: '5', txId: 'tx-r2', requestId: 'tx-r2' }), { purpose: 'sign' })).rejects.toMatchObject({ code: 'ERR_CALLBACK_REJECTED' });
    const gone = { ...settings, url: 'https://127.0.0.1:1' };
    await expect(client.ask({ id: USER, callback: gone }, 'tx_sign_request', signRequest(USER, { txId: 'tx-r3', requestId: 'tx-r3' }), { purpose: 'sign' })).rejects.toMatchObject({ code: 'ERR_CALLBACK_HTTP' });
    // No handler configured: no call, nothing counted.
    await client.ask({ id: USER }, 'tx_sign_request', signRequest(USER, { txId: 'tx-r4', requestId: 'tx-r4' }), { purpose: 'sign' });
    const after = signingStatsSnapshot();
    const d = (a: string): number => (approvals(after)[a] ?? 0) - (approvals(before)[a] ?? 0);
    expect([d('APPROVE'), d('REJECT'), d('error'), d('RETRY'), d('IGNORE')]).toEqual([1, 1, 1, 0, 0]);
    expect(after.callbackSeconds.count - before.callbackSeconds.count).toBe(3);
  });
});

describe('the parent turns enclave snapshots into monotonic Prometheus series', () => {
  const line = (text: string, series: string): number => {
    const l = text.split('\n').find((x) => x.startsWith(`${series} `));
    if (l === undefined) throw new Error(`no series ${series}`);
    return Number(l.slice(series.length + 1));
  };

  it('adds increases within an epoch, whole totals of a new epoch (enclave restart), and never goes down', async () => {
    const m = createCosignerMetrics({ version: '0.0.0-test' });
    const mirror = new EnclaveStatsMirror(m, { version: '0.0.0-test', imageId: () => 'abcdef012345' });
    const snap = (epoch: string, signedCount: number, approveCount: number, callbackCounts: number[]): unknown => ({
      state: 'unsealed',
      coordinator: 'connected',
      openSessions: 2,
      buildId: 'nitro-cosigner-feed',
      stats: {
        epoch,
        signatures: [{ scheme: 'frost-ed25519', outcome: 'signed', count: signedCount }, { scheme: 'bogus', outcome: 'signed', count: 99 }],
        signingSeconds: [{ scheme: 'frost-ed25519', histogram: { counts: callbackCounts, sum: signedCount * 0.2, count: signedCount } }],
        callbackSeconds: { counts: callbackCounts, sum: approveCount * 0.2, count: approveCount },
        approvals: [{ action: 'APPROVE', count: approveCount }, { action: 'EVIL', count: 5 }],
      },
    });
    const buckets = (n: number): number[] => LATENCY_BUCKETS_S.map((b) => (b === 0.25 ? n : 0)).concat(0);
    mirror.applyStatus(snap('e1', 3, 3, buckets(3)));
    mirror.applyStatus(snap('e1', 5, 5, buckets(5)));
    let text = await renderMetrics(m);
    expect(line(text, 'cosigner_signatures_total{scheme="frost-ed25519",outcome="signed"}')).toBe(5);
    expect(line(text, 'cosigner_approvals_total{action="APPROVE"}')).toBe(5);
    expect(line(text, 'cosigner_callback_duration_seconds_count')).toBe(5);
    expect(line(text, 'cosigner_callback_duration_seconds_bucket{le="0.1"}')).toBe(0);
    expect(line(text, 'cosigner_callback_duration_seconds_bucket{le="0.25"}')).toBe(5);
    expect(line(text, 'cosigner_signing_duration_seconds_bucket{scheme="frost-ed25519",le="+Inf"}')).toBe(5);
    expect(line(text, 'cosigner_sessions_open')).toBe(2);
    expect(line(text, 'cosigner_seal_state{state="unsealed"}')).toBe(1);
    expect(line(text, 'cosigner_build_info{version="0.0.0-test",build_id="nitro-cosigner-feed",image_id="abcdef012345"}')).toBe(1);
    expect(text).not.toContain('bogus');
    expect(text).not.toContain('EVIL');

    // The enclave restarted: a new epoch counting from zero again; its totals are added on top.
    mirror.applyStatus(snap('e2', 1, 1, buckets(1)));
    // A decrease within an epoch (should not happen) is treated like a restart, never subtracted.
    mirror.applyStatus(snap('e2', 0, 0, buckets(0)));
    text = await renderMetrics(m);
    expect(line(text, 'cosigner_signatures_total{scheme="frost-ed25519",outcome="signed"}')).toBe(6);
    expect(line(text, 'cosigner_approvals_total{action="APPROVE"}')).toBe(6);
    expect(line(text, 'cosigner_callback_duration_seconds_count')).toBe(6);

    // A malformed histogram (wrong bucket count, negative) is ignored.
    mirror.applyStatus({ state: 'sealed', stats: { epoch: 'e2', callbackSeconds: { counts: [1, -1], sum: -5, count: 9 } } });
    text = await renderMetrics(m);
    expect(line(text, 'cosigner_callback_duration_seconds_count')).toBe(6);
    expect(line(text, 'cosigner_unsealed')).toBe(0);
    mirror.disconnected();
    text = await renderMetrics(m);
    expect(line(text, 'cosigner_seal_state{state="unknown"}')).toBe(1);
    expect(line(text, 'cosigner_sessions_open')).toBe(0);
  });
});
