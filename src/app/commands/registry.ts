import type { Command, CommandContext } from '../command.js';
import { durationOption, instantOption, numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { formatInstant } from '../../events/time.js';
import { backfillGroup } from '../../registry/backfill.js';
import { formatPlan, planChanges, type ModelReads } from '../../registry/plan.js';
import { applyProject, RegisteredProjects, registeredProject } from '../../registry/registry.js';
import { featureSpec } from '../../samples/sample.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { STREAM_DEFAULTS } from '../../streaming/stream-processor.js';
import type { Runtime } from '../runtime.js';
import { runUntilStopped } from '../signals.js';
import { withRuntime } from '../with-runtime.js';

/**
 * `tessera plan`, `tessera apply`, `tessera backfill`: the registry's commands
 * (docs/architecture.md, The registry). plan and apply compare the project folder with the
 * registered head; backfill brings an applied version of a group into service.
 */

/** What each published model (the version its pointer names) reads, for the removal check. */
export async function publishedModelReads(rt: Runtime): Promise<ModelReads[]> {
  const store = rt.models();
  const servingSpec = featureSpec(await rt.servingGroups());
  const out: ModelReads[] = [];
  for (const model of await store.models()) {
    const version = await store.pointer(model);
    if (version === null) continue;
    const manifest = (await store.list(model)).find((m) => m.version === version);
    if (manifest === undefined) continue;
    const names = manifest.features?.names ?? (manifest.featureSpecHash === servingSpec.hash ? servingSpec.entries.map((e) => e.name) : null);
    out.push({ model, version, features: names });
  }
  return out;
}

function needRedis(rt: Runtime, what: string): void {
  if (!rt.config.redisUrl) throw new UsageError(`${what} works on the registry in the online store: set TESSERA_REDIS_URL`);
}

async function planOf(rt: Runtime) {
  const projects = new RegisteredProjects(rt.online(), rt.config.topicPrefix);
  const { catalog, project } = await registeredProject(rt.online(), rt.config.topicPrefix, projects);
  const registered = project === null ? null : { version: catalog.registry?.version ?? 0, project };
  return { projects, plan: planChanges(registered, rt.folderProject, await publishedModelReads(rt)) };
}

function printJson(ctx: CommandContext, value: unknown): void {
  ctx.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export const planCommand: Command = {
  name: 'plan',
  summary: 'Show what applying the project folder would change against the registered version.',
  usage: 'tessera plan [--json]',
  details: `Per group: added, changed (a new version, backfilled before it serves) or removed, with the
features added (+), changed in computation (~) and removed (-); per event type whether its schema
changed and whether the change passes Avro's resolution both ways (records of the old schema read
with the new one, and the reverse). Lists what apply would refuse: an incompatible schema, a
changed entity or key, and (unless --force) a removed feature a published model reads. Exit code 0
when the plan can be applied, 1 when apply would refuse it. Needs TESSERA_REDIS_URL.`,
  options: { json: { type: 'boolean', description: 'Print JSON' } },
  async run(ctx) {
    return withRuntime(ctx, { registry: false }, async (rt) => {
      needRedis(rt, 'plan');
      const { plan } = await planOf(rt);
      if (ctx.values.json) printJson(ctx, plan);
      else ctx.stdout.write(formatPlan(plan));
      return plan.problems.length > 0 || plan.forcible.length > 0 ? 1 : 0;
    });
  },
};

export const applyCommand: Command = {
  name: 'apply',
  summary: 'Register the project folder as the next registry version (atomically; one of two concurrent applies wins).',
  usage: 'tessera apply [--force] [--expect <version>] [--json]',
  details: `Registers the folder's definitions in one compare-and-set on the online catalog, against the
version it planned (or --expect): when another apply registered a version in between, nothing is
applied and the message names it. Unchanged groups keep their version; a changed or added group gets
a new version in a namespace of its own, which serves only after \`tessera backfill <group>\`; until
then the previous version serves. The first apply registers every group as version 1, in the
namespace serving it now. Refused with the reasons when the plan has problems (see tessera plan);
--force applies despite a removed feature that a published model reads. Needs TESSERA_REDIS_URL.`,
  options: {
    force: { type: 'boolean', description: 'Apply even though a published model reads a removed feature' },
    expect: { type: 'string', description: 'The registered version this apply is planned against', defaultText: 'the one registered now' },
    json: { type: 'boolean', description: 'Print JSON' },
  },
  async run(ctx) {
    return withRuntime(ctx, { registry: false }, async (rt) => {
      needRedis(rt, 'apply');
      const expectText = stringOption(ctx, 'expect');
      const projects = new RegisteredProjects(rt.online(), rt.config.topicPrefix);
      const result = await applyProject(rt.online(), rt.config.topicPrefix, rt.folderProject, {
        models: await publishedModelReads(rt),
        force: ctx.values.force === true,
        now: rt.clock(),
        projects,
        ...(expectText !== undefined ? { expected: numberOption(ctx, 'expect', 0, { min: 0 }) } : {}),
      });
      if (ctx.values.json) {
        printJson(ctx, result);
        return 0;
      }
      ctx.stdout.write(formatPlan(result.plan));
      if (!result.plan.changed) {
        ctx.stdout.write(`nothing to apply: registry version ${result.version} is the folder\n`);
        return 0;
      }
      ctx.stdout.write(`registered version ${result.version}\n`);
      for (const p of result.pending) ctx.stdout.write(`  ${p.group} v${p.version} waits in namespace ${p.namespace}: run tessera backfill ${p.group}\n`);
      return 0;
    });
  },
};

export const backfillCommand: Command = {
  name: 'backfill',
  summary: "Bring a group's applied version into service: batch backfill, stream catch-up, then an atomic flip.",
  usage: 'tessera backfill <group> [--until <ISO>] [--grace 24h] [--until-idle] [--json]',
  details: `1. recomputes every state of the new version as of --until from the raw tables (a batch view
nothing reads yet); 2. replays the log from --until into the version's namespace with the streaming
code (its own consumer group, exactly once) until caught up; 3. flips the group's alias and batch view
to the new version in one compare-and-set. Readers see the old version whole or the new one whole;
the old one stays for rollback (tessera versions rollback <group>) for --grace, and its deployment
keeps writing it. --until defaults to the latest instant aligned to the group's largest tile at or
before the newest event in the raw tables (run the sink first). After the flip the command keeps
streaming into the new version until SIGTERM; with --until-idle it exits and prints the tessera stream
command that continues it. Needs TESSERA_KAFKA_BROKERS, TESSERA_REDIS_URL and the offline store.`,
  options: {
    until: { type: 'string', description: 'The watermark between the batch and the stream part (ISO time)' },
    grace: { type: 'string', description: 'How long the replaced version is kept for rollback', defaultText: '24h' },
    'until-idle': { type: 'boolean', description: 'Exit after the flip instead of streaming on' },
    'idle-ms': { type: 'string', description: 'How long the log must stay caught up before the flip, ms', defaultText: '1000' },
    'max-batch': { type: 'string', description: 'Records per atomic update at most', defaultText: String(STREAM_DEFAULTS.maxBatchRecords) },
    json: { type: 'boolean', description: 'Print the result as JSON' },
  },
  allowPositionals: true,
  async run(ctx) {
    const [name] = ctx.positionals;
    if (!name) throw new UsageError('usage: tessera backfill <group> (see tessera backfill --help)');
    const until = instantOption(ctx, 'until', false);
    return withRuntime(ctx, {}, async (rt) => {
      needRedis(rt, 'backfill');
      if (rt.definitions === null) throw new UsageError('nothing is registered: run tessera apply first');
      await rt.ensureTopics();
      const result = await backfillGroup(
        {
          log: rt.log(),
          store: rt.online(),
          registry: rt.registry,
          topics: rt.topics,
          keys: createStreamKeys(rt.config.topicPrefix),
          groups: [],
          logger: rt.logger,
          metrics: rt.metrics,
          clock: rt.clock,
          prefix: rt.config.topicPrefix,
          offline: await rt.offline(),
          projects: rt.definitions,
        },
        name,
        {
          ...(until !== undefined ? { until } : {}),
          graceMs: durationOption(ctx, 'grace', 86_400_000),
          latenessMs: rt.project.latenessMs,
          maxFutureMs: rt.config.maxFutureMs,
          maxBatchRecords: numberOption(ctx, 'max-batch', STREAM_DEFAULTS.maxBatchRecords, { min: 1 }),
          idleMs: numberOption(ctx, 'idle-ms', 1000, { min: 0 }),
          continueLive: ctx.values['until-idle'] !== true,
          onStep: (step, detail) => {
            if (ctx.values.json !== true) ctx.stderr.write(`backfill ${name}: ${step} ${JSON.stringify(detail)}\n`);
          },
        },
      );
      const { live, ...shown } = result;
      const continueWith = `tessera stream --namespace ${result.namespace} --group ${result.consumerGroup} --groups ${name}`;
      if (ctx.values.json) printJson(ctx, { ...shown, until: formatInstant(result.until), ...(live === null ? { continueWith } : {}) });
      else {
        ctx.stdout.write(
          `${name} v${result.version} serves from ${result.namespace} (was ${result.previous}): batch view of ${result.entities} entities as of ${formatInstant(result.until)} in ${result.seconds.backfill.toFixed(1)} s, ` +
            `${result.applied} events caught up in ${result.seconds.catchUp.toFixed(1)} s, flipped in ${(result.seconds.flip * 1000).toFixed(0)} ms\n`,
        );
      }
      if (live === null) {
        if (ctx.values.json !== true) ctx.stdout.write(`continue it with: ${continueWith}\n`);
        return 0;
      }
      await runUntilStopped(live);
      return 0;
    });
  },
};
