import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import type { EventCatalog } from '../../events/event-catalog.js';
import type { AnyEvent } from '../../events/event-types.js';
import { eventToJson } from '../../events/json-form.js';
import { createEventProducer } from '../../ingest/producer.js';
import { importMovielens } from '../../ingest/importers/movielens.js';
import { importTaobao } from '../../ingest/importers/taobao.js';
import { DEFAULT_DATA_DIR } from '../paths.js';
import { ProgressBar } from '../../observability/progress.js';
import { writeLinesAsync } from '../lines.js';
import { projectDir, REFERENCE_PROJECT_DIR, reportEventMapping, withRuntime } from '../with-runtime.js';
import { createProjectEventMapper, type ProjectEventMapper } from '../../ingest/project-events.js';
import type { Project } from '../../project/compile-project.js';
import { loadProject } from '../../project/load-project.js';

/** The importer of a public sample, by name. */
export function importSample(name: string, path: string | undefined, negatives: number, seed: number, catalog: EventCatalog): AsyncGenerator<AnyEvent> {
  if (name === 'taobao') {
    // cart and fav rows become events where the project has those types (examples/taobao does)
    const behaviors = (['cart', 'fav'] as const).filter((b) => catalog.has(b));
    return importTaobao({ path: path ?? resolve(DEFAULT_DATA_DIR, 'taobao', 'UserBehavior_head_84k.csv'), negatives, seed, behaviors });
  }
  if (name === 'movielens') return importMovielens({ dir: path ?? resolve(DEFAULT_DATA_DIR, 'movielens-latest-small') });
  throw new UsageError(`unknown data set "${name}": use taobao or movielens`);
}

async function* mapped(events: AsyncIterable<AnyEvent>, mapper: ProjectEventMapper): AsyncGenerator<AnyEvent> {
  for await (const e of events) yield* mapper.map(e);
}

/** Moves every instant of the events by `ms`, keeping their order and spacing. */
async function* shifted(events: AsyncIterable<AnyEvent>, ms: number): AsyncGenerator<AnyEvent> {
  for await (const e of events) {
    const moved = { ...e, eventTime: e.eventTime + ms };
    const profile = moved as { type: string; signupTime?: number | null };
    if (profile.type === 'user_profile' && typeof profile.signupTime === 'number') profile.signupTime += ms;
    yield moved;
  }
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'Import a public sample (Taobao user behaviour, MovieLens ratings) as Tessera events and write them to Kafka or a file.',
  usage: 'tessera replay taobao|movielens [--path <file|dir>] [--negatives <n>] [--seed <n>] [--shift-days <n>] [--output <file.jsonl>]',
  details: `taobao: each pv becomes an impression plus a click 1 s later in its own request, with
--negatives non-clicked impressions in the same request at the same time, drawn from the items
other users viewed within +-1 h (not ones this user viewed then); buy becomes an order; cart and
fav become events of those types when the project declares them (examples/taobao does), else they are
ignored. The events are put into the project's own event types: impressions, clicks and orders as
its exposure, click and conversion types (README, "Synthetic data"). movielens: each rating becomes an impression, and a click 1 s later when the
rating is >= 4; movies.csv gives item profiles. See README, "Public samples". The data sets are
licensed for research only and are read in place, never copied. Without --output, needs
TESSERA_KAFKA_BROKERS. Events that break the contract (MovieLens ratings before 2000-01-01: 26,491
of the sample's events) are rejected by the producer's validation and counted, unless
--shift-days moves them into range; with --output they are written as they are.`,
  options: {
    path: { type: 'string', description: 'Taobao CSV file or MovieLens directory', defaultText: '../shared/data/...' },
    negatives: { type: 'string', description: 'Taobao: non-clicked impressions sampled per click', defaultText: '4' },
    seed: { type: 'string', description: 'Taobao: sampling seed', defaultText: '1' },
    'shift-days': { type: 'string', description: 'Add this many days to every instant (MovieLens ratings before 2000 are otherwise rejected)', defaultText: '0' },
    output: { type: 'string', short: 'o', description: 'Write JSON lines here instead of producing to Kafka' },
  },
  allowPositionals: true,
  async run(ctx) {
    const [name] = ctx.positionals;
    if (!name) throw new UsageError('name the data set: tessera replay taobao|movielens');
    const negatives = numberOption(ctx, 'negatives', 4, { min: 0 });
    const seed = numberOption(ctx, 'seed', 1);
    const shiftMs = numberOption(ctx, 'shift-days', 0) * 86_400_000;
    // the importers write the reference vocabulary (and Taobao's carts and favourites when the
    // project has them); the mapper puts it into the project's own event types
    const eventsFor = (project: Project): AsyncIterable<AnyEvent> => {
      const mapper = createProjectEventMapper(project.catalog, project.labels, { companions: false });
      reportEventMapping(ctx, project, mapper);
      const imported = importSample(name, stringOption(ctx, 'path'), negatives, seed, project.catalog);
      return mapped(shiftMs === 0 ? imported : shifted(imported, shiftMs), mapper);
    };
    const output = stringOption(ctx, 'output');
    const progress = new ProgressBar({ label: 'replay', unit: 'events', out: ctx.stderr });
    if (output) {
      const project = await loadProject(projectDir(ctx.config(), REFERENCE_PROJECT_DIR));
      const { catalog } = project;
      const events = eventsFor(project);
      let n = 0;
      async function* lines() {
        for await (const e of events) {
          n++;
          progress.tick();
          yield eventToJson(e, catalog);
        }
      }
      await writeLinesAsync(createWriteStream(output), lines());
      progress.finish();
      ctx.stdout.write(`wrote ${n} events to ${output}\n`);
      return 0;
    }
    return withRuntime(ctx, {}, async (rt) => {
      const events = eventsFor(rt.project);
      await rt.ensureTopics();
      const producer = createEventProducer({ log: rt.log(), registry: rt.registry, topics: rt.topics, clock: rt.clock, maxFutureMs: rt.config.maxFutureMs });
      let batch: AnyEvent[] = [];
      let sent = 0;
      let rejected = 0;
      const flush = async () => {
        const r = await producer.send(batch);
        sent += r.sent;
        rejected += r.rejected.length;
        for (const x of r.rejected.slice(0, 5)) ctx.stderr.write(`rejected ${batch[x.index]?.eventId}: ${x.error.reason}: ${x.error.message}\n`);
        progress.tick(batch.length);
        batch = [];
      };
      for await (const e of events) {
        batch.push(e);
        if (batch.length >= 5000) await flush();
      }
      if (batch.length) await flush();
      progress.finish();
      ctx.stdout.write(`sent ${sent} events, rejected ${rejected}\n`);
      return 0;
    });
  },
};
