import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCosignerMetrics, renderMetrics, setEnclaveState } from '../../../parent/metrics/cosigner-metrics.ts';
import { startMetricsServer } from '../../../parent/metrics/server.ts';

/** The metric names of docs/operations.md's metrics table (the cosigner_* rows). */
function documentedMetrics(): Array<{ name: string; type: string }> {
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  return [...doc.matchAll(/^\| `(cosigner_[a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
}

describe('cosigner metric set (prom-client)', () => {
  it('every documented series is present from the start; counters and histograms at 0', async () => {
    const documented = documentedMetrics();
    expect(documented.length).toBeGreaterThanOrEqual(18);
    const text = await renderMetrics(createCosignerMetrics({ version: '1.2.3' }));
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const { name, type } of documented) {
      expect(text, name).toContain(`# TYPE ${name} ${type}`);
      const own = samples.filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `) || l.startsWith(`${name}_`));
      expect(own.length, `${name} has samples`).toBeGreaterThan(0);
      if (type !== 'gauge') for (const l of own) expect(l, l).toMatch(/ 0$/);
    }
    // Nothing exported that the table does not document (apart from prom-client's process_/nodejs_ set).
    const exported = new Set([...text.matchAll(/^# TYPE (cosigner_[a-z_]+) /gm)].map((m) => m[1]));
    expect([...exported].sort()).toEqual(documented.map((d) => d.name).sort());
    for (const series of [
      'cosigner_signatures_total{scheme="frost-ed25519",outcome="signed"} 0',
      'cosigner_signatures_total{scheme="frost-secp256k1-tr",outcome="rejected"} 0',
      'cosigner_approvals_total{action="RETRY"} 0',
      'cosigner_approvals_total{action="error"} 0',
      'cosigner_signing_duration_seconds_count{scheme="frost-secp256k1-tr"} 0',
      'cosigner_callback_duration_seconds_bucket{le="+Inf"} 0',
      'cosigner_seal_state{state="unknown"} 1',
      'cosigner_seal_state{state="unsealed"} 0',
      'cosigner_sessions_open 0',
      'cosigner_enclave_state{state="stopped"} 1',
      'cosigner_build_info{version="1.2.3",build_id="",image_id=""} 1',
      'cosigner_requests_total{method="status",outcome="ok"} 0',
      'cosigner_log_write_failures_total{code="ENOSPC"} 0',
    ]) {
      expect(text).toContain(series);
    }
    // Default process and event-loop metrics.
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('exposes one enclave state at 1', async () => {
    const m = createCosignerMetrics({ version: '1' });
    setEnclaveState(m, 'running');
    m.queueDepth.set(3);
    const text = await renderMetrics(m);
    expect(text).toContain('cosigner_enclave_state{state="running"} 1');
    expect(text).toContain('cosigner_enclave_state{state="stopped"} 0');
    expect(text).toContain('cosigner_queue_depth 3');
  });

  it('the example Grafana dashboard is valid JSON whose queries name only exported metrics', async () => {
    const dash = JSON.parse(readFileSync(new URL('../../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }>; title: string };
    expect(dash.title).toBeTruthy();
    const text = await renderMetrics(createCosignerMetrics({ version: '1' }));
    const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(8);
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\b(?:cosigner|process|nodejs)_[a-z0-9_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        expect(text, `${expr}: ${name}`).toMatch(new RegExp(`^# TYPE (${name}|${base}) `, 'm'));
      }
    }
  });
});

describe('metrics server', () => {
  it('serves /metrics and /healthz on loopback, GET only', async () => {
    const m = createCosignerMetrics({ version: '1' });
    let healthy = false;
    const s = await startMetricsServer('127.0.0.1:0', m.registry, () => ({ ok: healthy, enclave: 'stopped' }));
    try {
      const res = await fetch(`${s.url}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      expect(await res.text()).toContain('cosigner_enclave_state');
      expect((await fetch(`${s.url}/healthz`)).status).toBe(503);
      healthy = true;
      expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ ok: true, enclave: 'stopped' });
      expect((await fetch(`${s.url}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
      expect((await fetch(`${s.url}/other`)).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('refuses a non-loopback address', async () => {
    const m = createCosignerMetrics({ version: '1' });
    for (const a of ['0.0.0.0:9464', '10.0.0.1:9464', ':9464', '[::]:9464']) {
      await expect(startMetricsServer(a, m.registry, () => ({ ok: true }))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
  });
});
