import type { FeatureValue } from '../features/aggregators.js';
import type { CompiledGroup } from '../features/definitions.js';
import { assembleGroup, coldStartFeatures } from '../features/window-assembly.js';
import type { OfflineStore } from '../ports/offline-store.js';
import type { Sample } from '../samples/sample.js';
import type { FeatureReader } from '../serving/feature-reader.js';
import { dedupedSource } from '../sink/raw-tables.js';
import type { EventType } from '../events/event-types.js';
import { recomputeStates } from './recompute.js';

/**
 * `tessera check consistency`: measures how far the online path is from the batch truth.
 *
 * Features: N random entities per group (a seeded hash order over the entities of the raw tables),
 * read online (stream + lambda view, through the serving reader) and recomputed by the batch layer
 * at the same query time (the online watermark by default); per feature, how many values differ
 * (numbers beyond a relative 1e-9: float sums add in another order) and how many are missing on
 * one side (an entity the batch knows and the online state does not, or the reverse).
 * Samples: the joiner's samples matched with the batch samples on impressionId; labels and every
 * feature compared the same way, plus the samples each side lacks.
 */

/** Per-feature agreement. */
export interface FeatureAgreement {
  compared: number;
  mismatches: number;
  mismatchRate: number;
  /** A few differing values, for the report. */
  examples: { key: string; online: FeatureValue; batch: FeatureValue }[];
}

export interface FeatureConsistency {
  q: number;
  groups: Record<string, { entities: number; missingOnline: number; missingOffline: number; missingRate: number; features: Record<string, FeatureAgreement> }>;
  /** Mismatches over every compared value. */
  totalMismatches: number;
}

export interface SampleConsistency {
  joiner: number;
  batch: number;
  matched: number;
  /** Batch samples the joiner did not emit, and the reverse. */
  missingInJoiner: number;
  missingInBatch: number;
  missingRate: number;
  labels: { click: FeatureAgreement; order: FeatureAgreement };
  features: Record<string, FeatureAgreement>;
  totalMismatches: number;
}

const EXAMPLES = 3;

/** Whether two feature values agree: numbers to a relative 1e-9 (or 1e-12 absolute), the rest exactly. */
export function sameValue(a: FeatureValue | undefined, b: FeatureValue | undefined): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= Math.max(1e-12, 1e-9 * Math.max(Math.abs(a), Math.abs(b)));
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function agreement(): FeatureAgreement {
  return { compared: 0, mismatches: 0, mismatchRate: 0, examples: [] };
}

function note(a: FeatureAgreement, key: string, online: FeatureValue | undefined, batch: FeatureValue | undefined): boolean {
  a.compared++;
  if (sameValue(online, batch)) return true;
  a.mismatches++;
  if (a.examples.length < EXAMPLES) a.examples.push({ key, online: online ?? null, batch: batch ?? null });
  return false;
}

function finishRates(a: FeatureAgreement): FeatureAgreement {
  a.mismatchRate = a.compared === 0 ? 0 : a.mismatches / a.compared;
  return a;
}

/** The SQL expression of a group's entity key over a raw table, and the condition for it to exist. */
function entityKeySql(group: CompiledGroup): { key: string; present: string } {
  const fields = group.entity.keyFields;
  const present = fields.map((f) => `${f} IS NOT NULL AND ${f} != ''`).join(' AND ');
  const key = fields.length === 1 ? `toString(${fields[0]})` : `concat(${fields.map((f) => `toString(${f})`).join(", ':', ")})`;
  return { key, present };
}

/**
 * N entity keys of a group with events before q, in a seeded pseudo-random order (the same seed
 * and data give the same entities).
 */
export async function sampleEntities(offline: OfflineStore, group: CompiledGroup, n: number, q: number, seed: number): Promise<string[]> {
  const { key, present } = entityKeySql(group);
  const parts = group.sources.map((type: EventType) => `SELECT ${key} AS k FROM ${dedupedSource(type)} WHERE ${present} AND eventTime < fromUnixTimestamp64Milli(${Math.trunc(q)}, 'UTC')`);
  const rows = await offline.query<{ k: string }>(`SELECT DISTINCT k FROM (${parts.join(' UNION ALL ')}) ORDER BY cityHash64(k, ${Math.trunc(seed)}), k LIMIT ${Math.trunc(n)}`);
  return rows.map((r) => r.k);
}

/**
 * Compares online values with batch values at q for `perGroup` sampled entities of each group.
 */
export async function checkFeatureConsistency(deps: { offline: OfflineStore; reader: FeatureReader; groups: readonly CompiledGroup[] }, options: { perGroup: number; q: number | 'watermark'; seed?: number }): Promise<FeatureConsistency> {
  const { offline, reader, groups } = deps;
  const q = options.q === 'watermark' ? (await reader.read([], 'watermark')).q : options.q;
  const report: FeatureConsistency = { q, groups: {}, totalMismatches: 0 };
  for (const group of groups) {
    const keys = await sampleEntities(offline, group, options.perGroup, q, options.seed ?? 1);
    const features: Record<string, FeatureAgreement> = Object.fromEntries(group.features.map((f) => [f.name, agreement()]));
    const cold = coldStartFeatures(group);
    const batch = new Map<string, { values: Record<string, FeatureValue>; known: boolean }>();
    for await (const e of recomputeStates(offline, [group], { until: q, keys })) batch.set(e.entityKey, { values: assembleGroup(group, e, q), known: e.latestEventTime !== null });
    let missingOnline = 0;
    let missingOffline = 0;
    const chunk = 200;
    for (let i = 0; i < keys.length; i += chunk) {
      const part = keys.slice(i, i + chunk);
      const { entities } = await reader.read(part.map((key) => ({ group: group.name, key })), q);
      entities.forEach((online, j) => {
        const key = part[j] as string;
        const b = batch.get(key);
        // the recompute leaves out entities none of whose events any window at q still covers:
        // their batch values are the cold-start values, which online state past its windows also gives
        const bv = b?.values ?? cold;
        const differs = group.features.some((f) => !sameValue(online.values[f.name], bv[f.name]));
        if (!online.known && b?.known) missingOnline++;
        if (online.known && b === undefined && differs) missingOffline++;
        for (const f of group.features) if (!note(features[f.name] as FeatureAgreement, key, online.values[f.name], bv[f.name])) report.totalMismatches++;
      });
    }
    for (const a of Object.values(features)) finishRates(a);
    report.groups[group.name] = { entities: keys.length, missingOnline, missingOffline, missingRate: keys.length === 0 ? 0 : (missingOnline + missingOffline) / keys.length, features };
  }
  return report;
}

/** Compares the joiner's samples with the batch samples of the same impressions. */
export function checkSampleConsistency(joiner: readonly Sample[], batch: readonly Sample[]): SampleConsistency {
  const byId = new Map(batch.map((s) => [s.impressionId, s]));
  const joinerIds = new Set(joiner.map((s) => s.impressionId));
  const labels = { click: agreement(), order: agreement() };
  const features: Record<string, FeatureAgreement> = {};
  let matched = 0;
  let total = 0;
  for (const j of joiner) {
    const b = byId.get(j.impressionId);
    if (b === undefined) continue;
    matched++;
    if (!note(labels.click, j.impressionId, j.clickLabel, b.clickLabel)) total++;
    if (!note(labels.order, j.impressionId, j.orderLabel, b.orderLabel)) total++;
    for (const name of new Set([...Object.keys(j.features), ...Object.keys(b.features)])) {
      if (!note((features[name] ??= agreement()), j.impressionId, j.features[name], b.features[name])) total++;
    }
  }
  let missingInJoiner = 0;
  for (const id of byId.keys()) if (!joinerIds.has(id)) missingInJoiner++;
  const missingInBatch = joiner.length - matched;
  finishRates(labels.click);
  finishRates(labels.order);
  for (const a of Object.values(features)) finishRates(a);
  const union = matched + missingInJoiner + missingInBatch;
  return { joiner: joiner.length, batch: batch.length, matched, missingInJoiner, missingInBatch, missingRate: union === 0 ? 0 : (missingInJoiner + missingInBatch) / union, labels, features, totalMismatches: total };
}

