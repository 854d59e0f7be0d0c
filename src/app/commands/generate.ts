import { createWriteStream } from 'node:fs';
import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { eventToJson } from '../../events/json-form.js';
import { generateEvents } from '../../ingest/generator.js';
import { parseInstant } from '../../events/time.js';
import { ProgressBar } from '../../observability/progress.js';
import { writeLines } from '../lines.js';
import { loadProject } from '../../project/load-project.js';
import { projectDir, REFERENCE_PROJECT_DIR, reportEventMapping } from '../with-runtime.js';
import { createProjectEventMapper } from '../../ingest/project-events.js';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Write seeded synthetic events (JSON form) whose clicks follow a known model, with the true click probabilities beside them.',
  usage: 'tessera generate --events <n> [--users <n>] [--items <n>] [--seed <n>] [--output <file>] [--truth <file>]',
  details: `The click model: latent user and item factors, user and item biases, a position effect,
a device effect and an hour-of-day effect in the user's timezone (see README, "Synthetic data").
It writes the project's events (--project, default examples/reference): impressions, clicks and
orders as its exposure, click and conversion event types, profiles when it has them, and its
other event types with userId and itemId drawn after 30 % of clicks (README, "Synthetic data").
--truth gets one JSON line per impression: {"eventId","requestId","userId","itemId","pClick"}.`,
  options: {
    users: { type: 'string', description: 'Number of users', defaultText: '1000' },
    items: { type: 'string', description: 'Number of items', defaultText: '5000' },
    events: { type: 'string', description: 'Number of impressions to generate', defaultText: '100000' },
    seed: { type: 'string', description: 'Random seed', defaultText: '42' },
    start: { type: 'string', description: 'First event time, ISO-8601 or epoch ms', defaultText: '2026-01-05T00:00:00Z' },
    days: { type: 'string', description: 'Days the events span', defaultText: '7' },
    output: { type: 'string', short: 'o', description: 'Events file (JSON lines); - for stdout', defaultText: '-' },
    truth: { type: 'string', description: 'True click probabilities file (JSON lines)', defaultText: '<output>.truth.jsonl, none for stdout' },
  },
  async run(ctx) {
    const output = stringOption(ctx, 'output') ?? '-';
    const truthPath = stringOption(ctx, 'truth') ?? (output === '-' ? undefined : `${output.replace(/\.jsonl?$/, '')}.truth.jsonl`);
    const impressions = numberOption(ctx, 'events', 100_000, { min: 1 });
    const startText = stringOption(ctx, 'start');
    const gen = generateEvents({
      users: numberOption(ctx, 'users', 1000, { min: 1 }),
      items: numberOption(ctx, 'items', 5000, { min: 1 }),
      events: impressions,
      seed: numberOption(ctx, 'seed', 42),
      days: numberOption(ctx, 'days', 7, { min: 1 }),
      ...(startText ? { start: parseInstant(startText) } : {}),
    });
    // the generator writes the reference project's event types; the JSON form follows the project's schemas
    const project = await loadProject(projectDir(ctx.config(), REFERENCE_PROJECT_DIR));
    const { catalog } = project;
    const mapper = createProjectEventMapper(catalog, project.labels);
    reportEventMapping(ctx, project, mapper);
    const out = output === '-' ? ctx.stdout : createWriteStream(output);
    const truth = truthPath ? createWriteStream(truthPath) : null;
    const progress = new ProgressBar({ label: 'generate', unit: 'events', out: ctx.stderr, ...(output !== '-' ? {} : { mode: 'quiet' as const }) });
    let n = 0;
    const lines = (function* () {
      for (const rec of gen) {
        if (rec.truth && truth) truth.write(JSON.stringify({ eventId: rec.event.eventId, ...rec.truth }) + '\n');
        for (const event of mapper.map(rec.event)) {
          n++;
          if ((n & 1023) === 0) progress.tick(1024);
          yield eventToJson(event, catalog);
        }
      }
    })();
    await writeLines(out, lines, output !== '-');
    if (truth) await new Promise<void>((r) => truth.end(r));
    progress.finish();
    ctx.stderr.write(`generated ${n} events${output === '-' ? '' : ` into ${output}`}${truthPath ? `, truth in ${truthPath}` : ''}\n`);
    return 0;
  },
};
