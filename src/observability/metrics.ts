/**
 * A small metrics registry: counters, gauges and histograms with labels, rendered in the Prometheus text
 * exposition format. Components take a `Metrics` and name their series `tessera_<component>_<what>`.
 */
/** Default histogram buckets for latencies in seconds: 0.5 ms to 2.5 s. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

interface Histogram {
  help: string;
  buckets: readonly number[];
  /** label key -> cumulative-free counts per bucket (+Inf last), sum, count */
  values: Map<string, { counts: number[]; sum: number; count: number }>;
}

export class Metrics {
  private readonly series = new Map<string, { help: string; type: 'counter' | 'gauge'; values: Map<string, number> }>();
  private readonly histograms = new Map<string, Histogram>();

  /** Records one observation in a histogram (buckets fixed by the first call). */
  observe(name: string, value: number, labels: Record<string, string> = {}, help = '', buckets: readonly number[] = LATENCY_BUCKETS_S): void {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = { help, buckets: [...buckets].sort((a, b) => a - b), values: new Map() }));
    const key = labelKey(labels);
    let v = h.values.get(key);
    if (!v) h.values.set(key, (v = { counts: new Array<number>(h.buckets.length + 1).fill(0), sum: 0, count: 0 }));
    let i = 0;
    while (i < h.buckets.length && value > (h.buckets[i] as number)) i++;
    v.counts[i] = (v.counts[i] ?? 0) + 1;
    v.sum += value;
    v.count++;
  }

  /** Observations of a histogram over all label sets. */
  count(name: string): number {
    let n = 0;
    for (const v of this.histograms.get(name)?.values.values() ?? []) n += v.count;
    return n;
  }

  /** Adds `by` (default 1) to a counter. */
  inc(name: string, labels: Record<string, string> = {}, by = 1, help = ''): void {
    const s = this.get(name, 'counter', help);
    const key = labelKey(labels);
    s.values.set(key, (s.values.get(key) ?? 0) + by);
  }

  /** Sets a gauge. */
  set(name: string, value: number, labels: Record<string, string> = {}, help = ''): void {
    this.get(name, 'gauge', help).values.set(labelKey(labels), value);
  }

  /** The current value of a series (0 when never touched). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.series.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  /** The sum of a series over all label sets. */
  total(name: string): number {
    let sum = 0;
    for (const v of this.series.get(name)?.values.values() ?? []) sum += v;
    return sum;
  }

  /** Forgets every label set of a counter or gauge (an info series that names only the current value). */
  clear(name: string): void {
    this.series.get(name)?.values.clear();
  }

  /** Every label set of a series with its value. */
  entries(name: string): { labels: Record<string, string>; value: number }[] {
    return [...(this.series.get(name)?.values.entries() ?? [])].map(([k, value]) => ({ labels: parseLabelKey(k), value }));
  }

  /** Prometheus text exposition format, version 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const [name, s] of this.series) {
      if (s.help) out.push(`# HELP ${name} ${s.help}`);
      out.push(`# TYPE ${name} ${s.type}`);
      for (const [key, v] of s.values) out.push(`${name}${key === '' ? '' : `{${key}}`} ${v}`);
    }
    for (const [name, h] of this.histograms) {
      if (h.help) out.push(`# HELP ${name} ${h.help}`);
      out.push(`# TYPE ${name} histogram`);
      for (const [key, v] of h.values) {
        const sep = key === '' ? '' : ',';
        let cumulative = 0;
        h.buckets.forEach((b, i) => {
          cumulative += v.counts[i] ?? 0;
          out.push(`${name}_bucket{${key}${sep}le="${b}"} ${cumulative}`);
        });
        out.push(`${name}_bucket{${key}${sep}le="+Inf"} ${v.count}`);
        out.push(`${name}_sum${key === '' ? '' : `{${key}}`} ${v.sum}`);
        out.push(`${name}_count${key === '' ? '' : `{${key}}`} ${v.count}`);
      }
    }
    return out.join('\n') + '\n';
  }

  private get(name: string, type: 'counter' | 'gauge', help: string) {
    let s = this.series.get(name);
    if (!s) {
      s = { help, type, values: new Map() };
      this.series.set(name, s);
    }
    if (help && !s.help) s.help = help;
    return s;
  }
}

function labelKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

function parseLabelKey(key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of key.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
  return out;
}
