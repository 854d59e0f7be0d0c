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
});
