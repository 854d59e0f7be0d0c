/**
 * What a hot reload costs the serving thread on an otherwise quiet machine (issue 13, item 3): a
 * service-like loop (2 ms of work every 5 ms) while the reload worker prepares a version every
 * 400 ms (an FM of `--rows` rows per sparse table, full snapshots), against the same loop without
 * reloads, in one run. Reported: each second's longest event-loop delay, every stall over 20 ms
 * with the time to the nearest version handed over, and this thread's GC pauses.
 *
 *   bash bench/run.sh reload-lag [--rows 60000] [--seconds 20]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createFsModelStore } from '../src/adapters/fs/fs-model-store.js';
import { createModel } from '../src/models/serialization.js';
import { ReloadThread } from '../src/serving/reload-thread.js';
import type { Scorer } from '../src/serving/scorer.js';
import { createFeatureTransform } from '../src/training/feature-transform.js';
import { MODEL_FILES, publishModel } from '../src/training/publication.js';
import { GROUPS } from './project.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '60000' }, seconds: { type: 'string', default: '20' } } });
const rows = Number(values.rows);
const seconds = Number(values.seconds);
const transform = createFeatureTransform(GROUPS);
const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-reload-lag-'));
const store = createFsModelStore(dir);
const model = createModel('fm', transform.schema, {});
for (const c of Object.values((model as unknown as { components(): Record<string, { width?: number; upsert?: (id: number, v: Float64Array, mark: number) => void }> }).components())) {
  if (c.upsert === undefined || c.width === undefined) continue;
  const v = new Float64Array(c.width);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < v.length; j++) v[j] = Math.sin(i * 31 + j) * 0.1;
    c.upsert(i * 7919 + 1, v, 1);
  }
}
const versions: string[] = [];
for (let i = 0; i < 3; i++) versions.push((await publishModel(store, { model, name: 'fm', featureSpecHash: transform.spec.hash, parent: null, delta: false, data: { samples: 1, from: null, to: null }, metrics: {} })).version);

let gc = { count: 0, maxMs: 0, totalMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gc = { count: gc.count + 1, maxMs: Math.max(gc.maxMs, e.duration), totalMs: gc.totalMs + e.duration };
}).observe({ entryTypes: ['gc'] });

async function phase(reload: boolean) {
  const thread = new ReloadThread({ modelDir: dir });
  gc = { count: 0, maxMs: 0, totalMs: 0 };
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const work = setInterval(() => {
    const until = performance.now() + 2;
    while (performance.now() < until) {
      // the request work of a busy service
    }
  }, 5);
  const maxima: number[] = [];
  const perSecond = setInterval(() => {
    maxima.push(h.max / 1e6);
    h.reset();
  }, 1000);
  const stalls: number[][] = [];
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    if (now - last > 20) stalls.push([last, now - last]);
    last = now;
  }, 1);
  const handedOver: number[] = [];
  let serving: Scorer | null = null;
  let reloads = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    if (reload) {
      serving = (await thread.prepare('fm', versions[reloads++ % versions.length] as string, MODEL_FILES, { groups: GROUPS, transform })).scorer;
      handedOver.push(performance.now());
    }
    await new Promise((r) => setTimeout(r, 400));
  }
  for (const t of [work, perSecond, probe]) clearInterval(t);
  h.disable();
  await thread.close();
  maxima.sort((a, b) => a - b);
  return {
    reloads,
    servingVersion: serving?.version ?? null,
    perSecondMaxDelayMs: { median: Number((maxima[maxima.length >> 1] ?? NaN).toFixed(1)), max: Number((maxima.at(-1) ?? NaN).toFixed(1)), secondsOver20ms: maxima.filter((x) => x > 20).length, seconds: maxima.length },
    stallsOver20ms: stalls.map(([at, ms]) => {
      const near = handedOver.map((t) => t - (at as number)).filter((x) => x > -50 && x < 100);
      return { ms: Number((ms as number).toFixed(1)), versionHandedOverMsAfterItsStart: near.length > 0 ? Number((near[0] as number).toFixed(1)) : null };
    }),
    gcOnThisThread: { count: gc.count, maxMs: Number(gc.maxMs.toFixed(1)), totalMs: Math.round(gc.totalMs) },
  };
}

const idle = await phase(false);
const reloading = await phase(true);
const result = { benchmark: 'reload-lag', date: new Date().toISOString(), machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`, node: process.version, rowsPerTable: rows, seconds, noReloads: idle, reloadEvery400ms: reloading };
console.log(JSON.stringify(result, null, 2));
writeFileSync(new URL('./results/reload-lag.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
rmSync(dir, { recursive: true, force: true });
