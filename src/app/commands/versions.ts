import type { Command } from '../command.js';
import { durationOption } from '../command.js';
import { UsageError } from '../../errors.js';
import { formatInstant } from '../../events/time.js';
import { collectGarbage, readCatalog, rollbackAlias, servingNamespace } from '../../streaming/online-catalog.js';
import { pendingVersion, servingVersion } from '../../registry/registry.js';
import { createStreamKeys } from '../../streaming/stream-keys.js';
import { withRuntime } from '../with-runtime.js';
import { selectGroups } from './stream.js';

export const versionsCommand: Command = {
  name: 'versions',
  summary: "Show or change which online version serves each feature group (kappa aliases, lambda batch views).",
  usage: 'tessera versions list|rollback <group>|gc [--json] [--grace 24h]',
  details: `list: per group, the registered version serving and the namespace holding its streaming state, a
version applied and waiting for its backfill, its batch view (watermark and age) and the previous
versions kept for rollback. rollback <group>: points the group back at its previous
version while its grace period lasts (the version rolled back from is kept for --grace), with its
batch view when it had one.
gc: drops the previous versions whose grace period is over and deletes the group's keys in them.
Needs TESSERA_REDIS_URL.`,
  options: {
    json: { type: 'boolean', description: 'Print JSON' },
    grace: { type: 'string', description: 'rollback: how long the version rolled back from is kept', defaultText: '24h' },
  },
  allowPositionals: true,
  async run(ctx) {
    const [action, name] = ctx.positionals;
    if (action !== 'list' && action !== 'rollback' && action !== 'gc') throw new UsageError('usage: tessera versions list|rollback <group>|gc (see tessera versions --help)');
    return withRuntime(ctx, {}, async (rt) => {
      if (!rt.config.redisUrl) throw new UsageError('versions reads the online store: set TESSERA_REDIS_URL');
      const store = rt.online();
      const prefix = rt.config.topicPrefix;
      if (action === 'rollback') {
        if (!name) throw new UsageError('usage: tessera versions rollback <group>');
        const [group] = selectGroups(rt.project.groups, name);
        const after = await rollbackAlias(store, prefix, group!.name, durationOption(ctx, 'grace', 86_400_000), rt.clock());
        ctx.stdout.write(`${group!.name} now served by ${servingNamespace(after, group!.name)}\n`);
        return 0;
      }
      if (action === 'gc') {
        const expired = await collectGarbage(store, prefix, rt.clock());
        let keys = 0;
        for (const e of expired) for (const p of createStreamKeys(prefix, e.namespace).groupPrefixes(e.group)) keys += await store.deleteByPrefix(p);
        ctx.stdout.write(`dropped ${expired.length} version(s) (${keys} keys)${expired.map((e) => `\n  ${e.group}: ${e.kind} ${e.namespace}`).join('')}\n`);
        return 0;
      }
      const catalog = await readCatalog(store, prefix);
      const rows = rt.project.groups.map((g) => {
        const alias = catalog.aliases.get(g.name);
        const view = catalog.batchViews.get(g.name);
        const pending = pendingVersion(catalog, g.name);
        return {
          group: g.name,
          version: servingVersion(catalog, g.name)?.version ?? null,
          pending: pending === null ? null : { version: pending.version, namespace: pending.namespaces[0] ?? '', backfilledUntil: pending.backfill ? formatInstant(pending.backfill.until) : null },
          stream: servingNamespace(catalog, g.name),
          previous: alias?.previous ? { namespace: alias.previous.namespace, graceEndsAt: formatInstant(alias.previous.graceEndsAt) } : null,
          batchView: view ? { namespace: view.namespace, until: formatInstant(view.until), writtenAt: formatInstant(view.writtenAt), version: view.version ?? null } : null,
        };
      });
      if (ctx.values.json) {
        ctx.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return 0;
      }
      for (const r of rows) {
        const v = r.version !== null ? `v${r.version} ` : catalog.registry !== null ? 'not served yet ' : '';
        const waiting = r.pending ? `; v${r.pending.version} applied, waiting in ${r.pending.namespace} (tessera backfill ${r.group})` : '';
        ctx.stdout.write(`${r.group.padEnd(14)} ${v}stream ${r.stream}${waiting}${r.previous ? ` (previous ${r.previous.namespace} until ${r.previous.graceEndsAt})` : ''}; batch view ${r.batchView ? `${r.batchView.namespace} as of ${r.batchView.until}` : 'none'}\n`);
      }
      return 0;
    });
  },
};
