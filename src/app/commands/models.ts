import type { Command } from '../command.js';
import { resolve } from 'node:path';
import { numberOption, stringOption } from '../command.js';
import { featureSpec } from '../../samples/sample.js';
import { publishCheckpoint } from '../../training/trainer.js';
import { UsageError } from '../../errors.js';
import { formatInstant } from '../../events/time.js';
import { withRuntime } from '../with-runtime.js';

export const modelsCommand: Command = {
  name: 'models',
  summary: 'List, inspect, roll back and prune the published model versions (TESSERA_MODEL_DIR).',
  usage: 'tessera models list [<model>] | show <model> [<version>] | publish <model> | rollback <model> <version> | prune <model> --keep K [--json]',
  details: `Versions are immutable folders with a manifest (model kind, feature-spec hash, data range and offsets,
metrics, file checksums, parent version); each model has a pointer naming the version served, moved
atomically. rollback moves the pointer (the inference service follows it at its next poll); prune keeps
the newest K versions, the pointed one and every delta chain they need. \`tessera train\` publishes
automatically (--publish-every-samples, --publish-every); publish <model> publishes the trainer's latest
checkpoint (--checkpoint-dir) as a full version now.`,
  options: {
    json: { type: 'boolean', description: 'Print JSON' },
    keep: { type: 'string', description: 'prune: versions to keep', defaultText: '10' },
    'checkpoint-dir': { type: 'string', description: "publish: the trainer's checkpoint directory", defaultText: '.tessera/trainer' },
  },
  allowPositionals: true,
  async run(ctx) {
    const [action, model, version] = ctx.positionals;
    if (!['list', 'show', 'publish', 'rollback', 'prune'].includes(action ?? '')) throw new UsageError('usage: tessera models list|show|publish|rollback|prune (see tessera models --help)');
    return withRuntime(ctx, {}, async (rt) => {
      const store = rt.models();
      const json = ctx.values.json === true;
      if (action === 'list') {
        const names = model ? [model] : await store.models();
        const rows = [];
        for (const m of names) {
          const pointer = await store.pointer(m);
          for (const v of await store.list(m)) rows.push({ model: m, version: v.version, kind: v.kind, type: v.type, parent: v.parent, publishedAt: formatInstant(v.publishedAt), samples: v.data.samples, metrics: v.metrics, served: v.version === pointer });
        }
        if (json) ctx.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        else if (rows.length === 0) ctx.stdout.write(`no published models in ${rt.config.modelDir}\n`);
        else for (const r of rows) ctx.stdout.write(`${r.served ? '*' : ' '} ${r.model.padEnd(10)} ${r.version}  ${r.type.padEnd(5)} ${r.publishedAt}  samples ${r.samples}  ${Object.entries(r.metrics).map(([k, v]) => `${k} ${Number(v).toFixed(4)}`).join(' ')}\n`);
        return 0;
      }
      if (!model) throw new UsageError(`usage: tessera models ${action} <model>${action === 'rollback' ? ' <version>' : ''}`);
      if (action === 'show') {
        const v = version ?? (await store.pointer(model));
        if (!v) throw new UsageError(`model ${model} has no published version`);
        const { manifest } = await store.read(model, v); // verifies checksums
        ctx.stdout.write(JSON.stringify(json ? manifest : { ...manifest, publishedAt: formatInstant(manifest.publishedAt) }, null, 2) + '\n');
        return 0;
      }
      if (action === 'publish') {
        const spec = featureSpec(await rt.servingGroups()).hash;
        const published = await publishCheckpoint(store, resolve(stringOption(ctx, 'checkpoint-dir') ?? '.tessera/trainer'), model, spec);
        ctx.stdout.write(`${model}: published ${published} from the trainer's checkpoint\n`);
        return 0;
      }
      if (action === 'rollback') {
        if (!version) throw new UsageError('usage: tessera models rollback <model> <version> (see tessera models list)');
        await store.read(model, version); // refuse a damaged version before pointing at it
        await store.setPointer(model, version);
        ctx.stdout.write(`${model} now points at ${version}\n`);
        return 0;
      }
      const deleted = await store.prune(model, numberOption(ctx, 'keep', 10, { min: 1 }));
      ctx.stdout.write(`pruned ${deleted.length} version(s) of ${model}${deleted.length ? `: ${deleted.join(', ')}` : ''}\n`);
      return 0;
    });
  },
};
