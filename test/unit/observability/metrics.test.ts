import { describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { Metrics } from '../../../src/observability/metrics.js';
import { serveMetrics } from '../../../src/observability/metrics-server.js';

describe('metrics', () => {
  it('renders counters and gauges in the Prometheus text format, labels escaped', () => {
    const m = new Metrics();
    m.inc('tessera_stream_events_applied_total', { type: 'click' }, 3, 'Events applied');
    m.inc('tessera_stream_events_applied_total', { type: 'click' }, 2);
    m.set('tessera_stream_lag', 7, { topic: 'a"b', partition: '0' }, 'Records behind');
    expect(m.value('tessera_stream_events_applied_total', { type: 'click' })).toBe(5);
    expect(m.render()).toBe(
      [
        '# HELP tessera_stream_events_applied_total Events applied',
        '# TYPE tessera_stream_events_applied_total counter',
        'tessera_stream_events_applied_total{type="click"} 5',
        '# HELP tessera_stream_lag Records behind',
        '# TYPE tessera_stream_lag gauge',
        'tessera_stream_lag{partition="0",topic="a\\"b"} 7',
        '',
      ].join('\n'),
    );
  });

  it('serves GET /metrics over HTTP and 404s anything else', async () => {
    const m = new Metrics();
    m.inc('tessera_sink_events_stored_total', { type: 'order' }, 4);
    const server = await serveMetrics(m, 0);
    const { port } = server.address() as AddressInfo;
    try {
      const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toContain('text/plain');
      expect(await ok.text()).toContain('tessera_sink_events_stored_total{type="order"} 4');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      server.close();
    }
  });

  it('renders histograms with cumulative buckets, +Inf, sum and count per label set', () => {
    const m = new Metrics();
    for (const v of [0.0004, 0.003, 0.003, 0.2, 7]) m.observe('tessera_serve_latency_seconds', v, { route: 'rank' }, 'Request latency', [0.001, 0.005, 0.5]);
    expect(m.count('tessera_serve_latency_seconds')).toBe(5);
    expect(m.render()).toContain(
      [
        '# HELP tessera_serve_latency_seconds Request latency',
        '# TYPE tessera_serve_latency_seconds histogram',
        'tessera_serve_latency_seconds_bucket{route="rank",le="0.001"} 1',
        'tessera_serve_latency_seconds_bucket{route="rank",le="0.005"} 3',
        'tessera_serve_latency_seconds_bucket{route="rank",le="0.5"} 4',
        'tessera_serve_latency_seconds_bucket{route="rank",le="+Inf"} 5',
        'tessera_serve_latency_seconds_sum{route="rank"} 7.2064',
        'tessera_serve_latency_seconds_count{route="rank"} 5',
      ].join('\n'),
    );
  });
});
