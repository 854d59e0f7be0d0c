/**
 * A small metrics registry: counters and gauges with labels, rendered in the Prometheus text
 * exposition format. Components take a `Metrics` and name their series `tessera_<component>_<what>`.
 */
export class Metrics {
  private readonly series = new Map<string, { help: string; type: 'counter' | 'gauge'; values: Map<string, number> }>();

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
