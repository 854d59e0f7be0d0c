/**
 * Issue 5 benchmark: on the Taobao replay, does incremental training beat the same model frozen
 * after the first days? (progressive AUC on the later days)
 *
 * Data path, the same as production's: the UserBehavior sample -> the Taobao importer (pv ->
 * request with the viewed item clicked plus sampled non-clicked impressions, buy -> order) -> the
 * streaming joiner's core (`JoinState`: the shared label rule, point-in-time features through the
 * aggregation core) -> samples in event-time order -> the shared feature transform.
 *
 * Per model kind, two models see the same samples day by day (days in the log's zone,
 * Asia/Shanghai):
 * - incremental: learns every sample after scoring it (progressive validation), all days;
 * - frozen: the incremental model's exact copy (`encodeModel` / `decodeModel`, what a published
 *   version holds) taken at the end of day `--frozen-days`, then score-only.
 * Both score each sample of the later days before the incremental one learns it, with features
 * that keep updating (serving reads fresh features whatever the model's age). Reported: per-day
 * AUC of both on the later days, and the AUC over all later-day samples pooled.
 *
 * Skipped with a message (exit 0, no result written) when the sample is absent.
 *
 *   bash bench/run.sh taobao [--frozen-days 3] [--negatives 4] [--models lr,fm] [--data ../shared/data]
 */
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { AnyEvent } from '../src/events/event-types.js';
import { importTaobao } from '../src/ingest/importers/taobao.js';
import { JoinState } from '../src/joiner/join-state.js';
import { createFm } from '../src/models/fm.js';
import { createLr } from '../src/models/lr.js';
import type { ModelBatch } from '../src/models/model-batch.js';
import type { Model, ModelKind } from '../src/models/model.js';
import { decodeModel, encodeModel } from '../src/models/serialization.js';
import { createWideDeep } from '../src/models/wide-deep.js';
import { DEFAULT_LABEL_RULE } from '../src/samples/labels.js';
import { featureSpec, type Sample } from '../src/samples/sample.js';
import { auc, logloss } from '../src/training/evaluation.js';
import { createFeatureTransform } from '../src/training/feature-transform.js';
import { GROUPS } from './project.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data' },
    file: { type: 'string', default: 'taobao/UserBehavior_head_84k.csv' },
    negatives: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
    'frozen-days': { type: 'string', default: '3' },
    /** Days with fewer samples are reported but not scored per day (stray timestamps of the log). */
    'min-day-samples': { type: 'string', default: '1000' },
    models: { type: 'string', default: 'lr,fm' },
    out: { type: 'string', default: 'bench/results/taobao.json' },
  },
});
const log = (msg: string): void => void console.error(msg);
const path = resolve(values.data, values.file);
if (!existsSync(path)) {
  log(`taobao: skipped, ${path} not found (the public samples live in ../shared/data, never in the repo; pass --data DIR)`);
  process.exit(0);
}
const frozenDays = Number(values['frozen-days']);
const minDay = Number(values['min-day-samples']);
const kinds = values.models.split(',').map((k) => k.trim()) as ModelKind[];
for (const k of kinds) if (!['lr', 'fm', 'wide-deep'].includes(k)) throw new Error(`--models: unknown kind ${k}; use lr, fm, wide-deep`);
const SHANGHAI_OFFSET_MS = 8 * 3_600_000; // Asia/Shanghai has had no DST since 1991
const dayOf = (t: number): string => new Date(t + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------
// samples: importer -> joiner core, in event-time order

const groups = GROUPS;
const spec = featureSpec(groups);
const t0 = performance.now();
const activity: AnyEvent[] = [];
for await (const e of importTaobao({ path, negatives: Number(values.negatives), seed: Number(values.seed) })) {
  if (e.type === 'impression' || e.type === 'click' || e.type === 'order') activity.push(e);
}
const core = new JoinState({ groups, spec, rule: DEFAULT_LABEL_RULE, latenessMs: 600_000, dedupeHorizonMs: 86_400_000 });
core.observe('all', 0, { start: 0, end: activity.length });
const samples: Sample[] = [];
for (let i = 0; i < activity.length; i++) {
  core.offer('all', 0, i, activity[i] as AnyEvent);
  if (i % 5000 === 4999) for (const s of core.advance()) samples.push(s);
}
for (const s of core.advance()) samples.push(s);
log(`taobao: ${activity.length} events -> ${samples.length} samples in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
activity.length = 0;

// split by day (samples are released in event-time order, so days are contiguous)
const transform = createFeatureTransform(groups);
const dayNames: string[] = [];
const dayBatches: ModelBatch[] = [];
{
  let start = 0;
  for (let i = 1; i <= samples.length; i++) {
    const s = samples[start] as Sample;
    if (i === samples.length || dayOf((samples[i] as Sample).eventTime) !== dayOf(s.eventTime)) {
      dayNames.push(dayOf(s.eventTime));
      dayBatches.push(transform.samplesBatch(samples.slice(start, i), spec.hash));
      start = i;
    }
  }
}
const clickRate = samples.reduce((a, s) => a + s.clickLabel, 0) / Math.max(1, samples.length);
samples.length = 0;
log(`days: ${dayNames.map((d, i) => `${d} ${(dayBatches[i] as ModelBatch).size}`).join(', ')}`);
// the frozen copy is taken after the first `frozenDays` full days (stray tiny days before them do not count)
const fullDays = dayNames.map((_, i) => i).filter((i) => (dayBatches[i] as ModelBatch).size >= minDay);
const freezeAfter = fullDays[frozenDays - 1];
if (freezeAfter === undefined || fullDays.length <= frozenDays) throw new Error(`taobao: ${fullDays.length} days with >= ${minDay} samples; --frozen-days must be smaller`);

// ---------------------------------------------------------------------------------------------
// incremental vs frozen

function createModel(kind: ModelKind): Model {
  if (kind === 'lr') return createLr(transform.schema);
  if (kind === 'fm') return createFm(transform.schema, { factors: 16 });
  return createWideDeep(transform.schema, { hidden: [256, 128] });
}

/** Concatenates per-day score arrays. */
function concat(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const results: Record<string, unknown> = {};
for (const kind of kinds) {
  const incremental = createModel(kind);
  let frozen: Model | null = null;
  const perDay: Record<string, unknown>[] = [];
  const later = { inc: [] as Float64Array[], frz: [] as Float64Array[], labels: [] as Float64Array[] };
  const t1 = performance.now();
  for (let d = 0; d < dayBatches.length; d++) {
    const batch = dayBatches[d] as ModelBatch;
    const isLater = frozen !== null;
    const frozenScores = frozen === null ? null : frozen.predict(batch);
    const progressive = new Float64Array(batch.size);
    incremental.learn(batch, progressive);
    const row: Record<string, unknown> = { day: dayNames[d], samples: batch.size, phase: isLater ? 'later' : 'first', incrementalAuc: auc(progressive, batch.labels) };
    if (frozenScores !== null) {
      row.frozenAuc = auc(frozenScores, batch.labels);
      row.incrementalLogloss = logloss(progressive, batch.labels);
      row.frozenLogloss = logloss(frozenScores, batch.labels);
      later.inc.push(progressive);
      later.frz.push(frozenScores);
      later.labels.push(batch.labels);
    }
    perDay.push(row);
    if (d === freezeAfter) frozen = decodeModel(encodeModel(incremental), kind);
    const f = row.frozenAuc as number | undefined;
    log(`${kind} ${dayNames[d]} (${batch.size}): incremental ${(row.incrementalAuc as number).toFixed(4)}${f === undefined ? '' : `  frozen ${f.toFixed(4)}  diff ${((row.incrementalAuc as number) - f).toFixed(4)}`}`);
  }
  const labels = concat(later.labels);
  const inc = concat(later.inc);
  const frz = concat(later.frz);
  const laterDays = perDay.filter((r) => r.phase === 'later' && (r.samples as number) >= minDay);
  const summary = {
    frozenAfter: dayNames[freezeAfter],
    laterSamples: labels.length,
    incrementalAuc: auc(inc, labels),
    frozenAuc: auc(frz, labels),
    incrementalLogloss: logloss(inc, labels),
    frozenLogloss: logloss(frz, labels),
    laterDaysIncrementalWins: laterDays.filter((r) => (r.incrementalAuc as number) > (r.frozenAuc as number)).length,
    laterDaysScored: laterDays.length,
    seconds: (performance.now() - t1) / 1000,
  };
  log(`${kind} later days pooled: incremental AUC ${summary.incrementalAuc.toFixed(4)}, frozen ${summary.frozenAuc.toFixed(4)}; incremental ahead on ${summary.laterDaysIncrementalWins}/${summary.laterDaysScored} days`);
  results[kind] = { summary, perDay };
}

const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? ''}`.trim(),
  node: process.version,
  data: {
    file: values.file,
    negatives: Number(values.negatives),
    seed: Number(values.seed),
    samples: dayBatches.reduce((a, b) => a + b.size, 0),
    clickRate,
    days: dayNames.map((d, i) => ({ day: d, samples: (dayBatches[i] as ModelBatch).size })),
    note: 'importer (sampled non-clicked impressions) -> JoinState (streaming joiner core) -> feature transform; days in Asia/Shanghai; frozen = exact copy of the incremental model at the end of the frozen-after day, score-only afterwards',
  },
  frozenDays,
  results,
};
writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ frozenDays, ...Object.fromEntries(Object.entries(results).map(([k, v]) => [k, (v as { summary: unknown }).summary])) }, null, 2));
