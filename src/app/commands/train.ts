import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { durationOption, numberOption, stringOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { parseInstant } from '../../events/time.js';
import type { ModelKind } from '../../models/model.js';
import { createModel } from '../../models/serialization.js';
import { serveMetrics } from '../../observability/metrics-server.js';
import { createFeatureTransform, type CrossBase } from '../../training/feature-transform.js';
import { offlineSampleSource, topicSampleSource, type SampleSource } from '../../training/sample-sources.js';
import { BackgroundPublisher } from '../../training/background-publisher.js';
import { Trainer } from '../../training/trainer.js';
import { onShutdownSignal } from '../signals.js';
import { withRuntime } from '../with-runtime.js';

const KINDS: readonly ModelKind[] = ['lr', 'fm', 'wide-deep'];

function instant(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseInstant(text);
  } catch (err) {
    throw new UsageError(`--${name} "${text}": ${(err as Error).message}`);
  }
}

/** `--crosses user:item,item:category` -> the transform's crosses (its constructor checks the names). */
function parseCrosses(text: string | undefined): [CrossBase, CrossBase][] {
  if (text === undefined || text.trim() === '' || text === 'none') return [];
  return text.split(',').map((pair) => {
    const parts = pair.trim().split(':');
    if (parts.length !== 2) throw new UsageError(`--crosses: "${pair}" is not a pair a:b of user, item, category`);
    return parts as [CrossBase, CrossBase];
  });
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train LR, FM or Wide&Deep incrementally from the samples topic or the batch samples, publishing versions.',
  usage: 'tessera train --inputs <name> | --model lr|fm|wide-deep [--source topic|clickhouse] [--from ISO --to ISO] [--epochs N] [--until-idle] [--publish-every-samples N] [--publish-every 60s] [--publish-in worker|trainer]',
  details: `Reads samples in a deterministic order (the joiner's samples topic, partitions merged by release key;
or the ClickHouse samples table of \`tessera batch samples\` for [--from, --to), --epochs passes for a full
retrain), scores each mini-batch before learning it (progressive validation: rolling AUC, logloss and
calibration, exported as metrics), learns it, and checkpoints the complete model with the source cursor in
one atomic file (--checkpoint-dir), so a killed trainer restarts exactly where its last checkpoint was and
ends with the parameters of an uninterrupted run. Without a checkpoint it warm-starts from the latest
published version. Publishes to TESSERA_MODEL_DIR every --publish-every-samples samples or --publish-every
(deltas, a full snapshot every --full-every), keeping --keep versions.`,
  options: {
    inputs: { type: 'string', description: "One of the project's models (its kind, label, crosses and options)" },
    model: { type: 'string', description: 'lr, fm or wide-deep', defaultText: "the --inputs' kind" },
    name: { type: 'string', description: 'Name in the model store', defaultText: 'the --inputs name, else the model kind' },
    source: { type: 'string', description: 'topic (the joiner) or clickhouse (batch samples)', defaultText: 'topic' },
    from: { type: 'string', description: 'clickhouse: first sample time (ISO)' },
    to: { type: 'string', description: 'clickhouse: end of the range, exclusive (ISO)' },
    epochs: { type: 'string', description: 'Passes over a finite source', defaultText: '1' },
    label: { type: 'string', description: 'click or conversion', defaultText: "the --inputs' label, else click" },
    config: { type: 'string', description: 'Model options as JSON, e.g. {"factors":32,"factorOptimizer":{"kind":"adagrad","lr":0.1}} (README: Model options)' },
    crosses: { type: 'string', description: 'Crossed id fields of the transform, e.g. user:item,item:category (the service reads them from the model)', defaultText: 'none' },
    'mini-batch': { type: 'string', description: 'Samples per update', defaultText: '256' },
    'publish-every-samples': { type: 'string', description: 'Publish after this many samples (0: off)', defaultText: '100000' },
    'publish-every': { type: 'string', description: 'Publish at least this often (0: off)', defaultText: '60s' },
    'full-every': { type: 'string', description: 'Every n-th publication is a full snapshot', defaultText: '10' },
    keep: { type: 'string', description: 'Versions kept in the store', defaultText: '20' },
    'checkpoint-every': { type: 'string', description: 'Checkpoint after this many samples', defaultText: '50000' },
    'checkpoint-dir': { type: 'string', description: 'Checkpoint directory', defaultText: '.tessera/trainer' },
    'until-idle': { type: 'boolean', description: 'Stop when the source is exhausted' },
    'publish-in': { type: 'string', description: 'Where versions are written: worker (a worker thread, while the trainer goes on learning) or trainer (its own thread)', defaultText: 'worker' },
    'metrics-port': { type: 'string', description: 'Serve Prometheus metrics on 127.0.0.1:<port>/metrics' },
  },
  async run(ctx) {
    const kindText = stringOption(ctx, 'model');
    if (kindText !== undefined && !KINDS.includes(kindText as ModelKind)) throw new UsageError(`--model must be one of ${KINDS.join(', ')}`);
    const labelText = stringOption(ctx, 'label');
    if (labelText !== undefined && labelText !== 'click' && labelText !== 'conversion' && labelText !== 'order') throw new UsageError('--label must be click or conversion');
    let configOption: Record<string, unknown> | undefined;
    const configText = stringOption(ctx, 'config');
    if (configText !== undefined) {
      try {
        configOption = JSON.parse(configText) as Record<string, unknown>;
      } catch (err) {
        throw new UsageError(`--config is not JSON: ${(err as Error).message}`);
      }
    }
    const crossesText = stringOption(ctx, 'crosses');
    const sourceKind = stringOption(ctx, 'source') ?? 'topic';
    return withRuntime(ctx, {}, async (rt) => {
      // the project's model inputs, each part overridable on the command line
      const inputsName = stringOption(ctx, 'inputs');
      const inputs = inputsName === undefined ? undefined : rt.project.models[inputsName];
      if (inputsName !== undefined && inputs === undefined) {
        throw new UsageError(`--inputs: the project has no model inputs "${inputsName}" (it has ${Object.keys(rt.project.models).join(', ') || 'none'})`);
      }
      const kind = (kindText as ModelKind | undefined) ?? inputs?.kind;
      if (kind === undefined) throw new UsageError(`name the model: --inputs <one of the project's models: ${Object.keys(rt.project.models).join(', ') || 'none'}> or --model ${KINDS.join('|')}`);
      const label = labelText === undefined ? (inputs?.label === 'conversion' ? 'order' : 'click') : labelText === 'click' ? 'click' : 'order';
      const modelConfig = configOption ?? { ...(inputs?.config ?? {}) };
      const crosses = crossesText === undefined ? [...(inputs?.crosses ?? [])] : parseCrosses(crossesText);
      const groups = await rt.servingGroups();
      const transform = createFeatureTransform(groups, { label, crosses });
      createModel(kind, transform.schema, modelConfig); // a bad option fails here, before any service is touched
      const modelName = stringOption(ctx, 'name') ?? inputsName;
      let source: SampleSource;
      if (sourceKind === 'topic') {
        await rt.ensureTopics();
        source = topicSampleSource(rt.log(), rt.topics.samples(), { specHash: transform.spec.hash });
      } else if (sourceKind === 'clickhouse') {
        const from = instant('from', stringOption(ctx, 'from'));
        const to = instant('to', stringOption(ctx, 'to'));
        if (from === undefined || to === undefined) throw new UsageError('--source clickhouse needs --from and --to');
        source = offlineSampleSource(await rt.offline(), { from, to, groups });
      } else throw new UsageError('--source must be topic or clickhouse');
      const server = stringOption(ctx, 'metrics-port') ? await serveMetrics(rt.metrics, numberOption(ctx, 'metrics-port', 0, { min: 1 })) : null;
      const publishIn = stringOption(ctx, 'publish-in') ?? 'worker';
      if (publishIn !== 'worker' && publishIn !== 'trainer') throw new UsageError(`--publish-in must be worker or trainer, got ${publishIn}`);
      const publisher = publishIn === 'worker' ? new BackgroundPublisher({ modelDir: resolve(rt.config.modelDir) }) : null;
      const trainer = new Trainer(
        { source, store: rt.models(), transform, checkpointDir: resolve(stringOption(ctx, 'checkpoint-dir') ?? '.tessera/trainer'), metrics: rt.metrics, logger: rt.logger, clock: rt.clock, ...(publisher ? { publisher } : {}) },
        {
          kind,
          ...(modelName !== undefined ? { name: modelName } : {}),
          modelConfig,
          miniBatch: numberOption(ctx, 'mini-batch', 256, { min: 1 }),
          epochs: numberOption(ctx, 'epochs', 1, { min: 1 }),
          publishEverySamples: numberOption(ctx, 'publish-every-samples', 100_000, { min: 0 }),
          publishEveryMs: durationOption(ctx, 'publish-every', 60_000),
          fullEvery: numberOption(ctx, 'full-every', 10, { min: 1 }),
          keepVersions: numberOption(ctx, 'keep', 20, { min: 1 }),
          checkpointEverySamples: numberOption(ctx, 'checkpoint-every', 50_000, { min: 1 }),
          untilIdle: ctx.values['until-idle'] === true,
          ...(rt.definitions ? { registry: { version: rt.registeredVersion, groups: Object.fromEntries(await rt.servingVersions()) } } : {}),
        },
      );
      const off = onShutdownSignal(() => trainer.stop());
      try {
        const r = await trainer.run();
        ctx.stdout.write(`learned ${r.learned} samples (${r.resumedFrom} start), progressive AUC ${r.auc.toFixed(4)}, logloss ${r.logloss.toFixed(4)}; published ${r.published.length} version(s)${r.published.length ? `: ${r.published.join(', ')}` : ''}\n`);
      } finally {
        off();
        server?.close();
        await publisher?.close();
      }
      return 0;
    });
  },
};
