import { describe, expect, it } from 'vitest';
import { createCosignerMetrics, setEnclaveState } from '../../../parent/metrics/cosigner-metrics.ts';
import { Counter, Histogram, Registry } from '../../../parent/metrics/registry.ts';
import { startMetricsServer } from '../../../parent/metrics/server.ts';

describe('Prometheus text format', () => {
  it('renders counters, gauges and cumulative histograms with escaped labels', () => {
    const r = new Registry();
    const c = r.register(new Counter('t_total', 'A counter.'));
    const h = r.register(new Histogram('t_seconds', 'A histogram.', [0.1, 1]));
    c.inc({ method: 'a"b\\c' }, 2);
    h.observe(0.05, { m: 'x' });
    h.observe(0.5, { m: 'x' });
    h.observe(5, { m: 'x' });
    expect(r.render()).toBe(
      [
        '# HELP t_total A counter.',
        '# TYPE t_total counter',
        't_total{method="a\\"b\\\\c"} 2',
        '# HELP t_seconds A histogram.',
        '# TYPE t_seconds histogram',
        't_seconds_bucket{m="x",le="0.1"} 1',
        't_seconds_bucket{m="x",le="1"} 2',
        't_seconds_bucket{m="x",le="+Inf"} 3',
        't_seconds_sum{m="x"} 5.55',
        't_seconds_count{m="x"} 3',
        '',
      ].join('\n'),
    );
  });

  it('bounds the number of label combinations', () => {
    const c = new Counter('b_total', 'b');
    for (let i = 0; i < 1000; i++) c.inc({ k: String(i) });
    expect(c.lines().length).toBe(200);
  });

  it('exposes the cosigner metric set with one enclave state at 1', () => {
    const m = createCosignerMetrics();
    setEnclaveState(m, 'running');
    m.queueDepth.set(3);
    const text = m.registry.render();
    for (const name of ['cosigner_requests_total', 'cosigner_decisions_total', 'cosigner_request_duration_seconds', 'cosigner_unsealed', 'cosigner_coordinator_connected', 'cosigner_relay_connections', 'cosigner_queue_depth']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain('cosigner_enclave_state{state="running"} 1');
    expect(text).toContain('cosigner_enclave_state{state="stopped"} 0');
    expect(text).toContain('cosigner_queue_depth 3');
  });
});

describe('metrics server', () => {
  it('serves /metrics and /healthz on loopback, GET only', async () => {
    const m = createCosignerMetrics();
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
    const m = createCosignerMetrics();
    for (const a of ['0.0.0.0:9464', '10.0.0.1:9464', ':9464', '[::]:9464']) {
      await expect(startMetricsServer(a, m.registry, () => ({ ok: true }))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
  });
});
