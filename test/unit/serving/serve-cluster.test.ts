import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/observability/metrics.js';
import { labelExposition, mergeExpositions } from '../../../src/serving/serve-cluster.js';

describe('metrics of several serve workers', () => {
  const worker = (n: number) => {
    const m = new Metrics();
    m.inc('tessera_serve_model_reloads_total', { outcome: 'loaded' }, n, 'Model versions loaded');
    m.set('tessera_serve_warm_up_ms', 10 * n, {}, 'Warm-up');
    m.observe('tessera_serve_request_seconds', 0.001 * n, { route: 'rank', status: '200' }, 'Latency');
    return labelExposition(m.render(), 'worker', String(n));
  };

  it('labels every sample, plain and labelled ones, and leaves comments alone', () => {
    const text = worker(1);
    expect(text).toContain('tessera_serve_warm_up_ms{worker="1"} 10');
    expect(text).toContain('tessera_serve_model_reloads_total{worker="1",outcome="loaded"} 1');
    expect(text).toContain('tessera_serve_request_seconds_bucket{worker="1",route="rank",status="200",le="0.001"} 1');
    expect(text).toContain('tessera_serve_request_seconds_count{worker="1",route="rank",status="200"} 1');
    expect(text).toContain('# TYPE tessera_serve_warm_up_ms gauge');
  });

  it('merges each family into one group with one HELP and TYPE, samples of every worker', () => {
    const merged = mergeExpositions([worker(1), worker(2)]).trim().split('\n');
    for (const family of ['tessera_serve_model_reloads_total', 'tessera_serve_warm_up_ms', 'tessera_serve_request_seconds']) {
      expect(merged.filter((l) => l.startsWith(`# TYPE ${family} `))).toHaveLength(1);
      expect(merged.filter((l) => l.startsWith(`# HELP ${family} `))).toHaveLength(1);
      // the family's lines are contiguous: from its HELP to its last sample nothing else
      const first = merged.findIndex((l) => l.includes(family));
      const last = merged.length - 1 - [...merged].reverse().findIndex((l) => l.includes(family));
      expect(merged.slice(first, last + 1).every((l) => l.includes(family))).toBe(true);
    }
    expect(merged).toContain('tessera_serve_warm_up_ms{worker="1"} 10');
    expect(merged).toContain('tessera_serve_warm_up_ms{worker="2"} 20');
    expect(merged.filter((l) => l.startsWith('tessera_serve_request_seconds_count'))).toEqual([
      'tessera_serve_request_seconds_count{worker="1",route="rank",status="200"} 1',
      'tessera_serve_request_seconds_count{worker="2",route="rank",status="200"} 1',
    ]);
  });
});
