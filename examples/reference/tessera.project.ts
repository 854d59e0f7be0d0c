/**
 * The reference feature project: the event types, features and labels `tessera demo` runs on,
 * and the feature names the README, the benchmarks and the tests rely on. A team's own project
 * looks like this one (`tessera init <dir>` writes a smaller start); every field is described in
 * docs/project-reference.md.
 */
import { count, defineProject, lastK, lastSeen, smoothedRatio, sum } from 'tessera/project';

/** (clicks + 1) / (impressions + 20): a 5 % prior worth 20 impressions. */
const CTR_PRIOR = { alpha: 1, beta: 20 };
const ctr = (window: '7d' | '24h') =>
  smoothedRatio('ctr', { source: 'click', op: 'count' }, { source: 'impression', op: 'count' }, CTR_PRIOR, [window]);

export default defineProject({
  name: 'reference',
  events: {
    impression: { schema: 'events/Impression.avsc', key: 'userId' },
    click: { schema: 'events/Click.avsc', key: 'userId' },
    order: { schema: 'events/Order.avsc', key: 'userId' },
    item_profile: { schema: 'events/ItemProfile.avsc', key: 'itemId' },
    user_profile: { schema: 'events/UserProfile.avsc', key: 'userId' },
  },
  entities: {
    user: ['userId'],
    item: ['itemId'],
    // events without a category are left out of this entity
    user_category: ['userId', 'categoryId'],
  },
  groups: [
    {
      name: 'user',
      entity: 'user',
      aggregations: [
        count('impression', ['1h', '24h', '7d']),
        count('click', ['1h', '24h', '7d']),
        count('order', ['30d']),
        sum('order', 'amount', ['30d']),
        lastK('click', 'itemId', 20),
        lastSeen('click'),
      ],
      derived: [ctr('7d')],
    },
    {
      name: 'item',
      entity: 'item',
      aggregations: [count('impression', ['1h', '24h']), count('click', ['1h', '24h']), count('order', ['7d'])],
      derived: [ctr('24h')],
    },
    {
      name: 'user_category',
      entity: 'user_category',
      aggregations: [count('click', ['7d'])],
    },
  ],
  labels: {
    exposure: 'impression',
    click: { source: 'click', window: '30m' },
    conversion: { source: 'order', window: '24h' },
  },
  models: {
    fm: { kind: 'fm' },
    wide_deep: { kind: 'wide-deep' },
    lr: { kind: 'lr' },
  },
  stream: { lateness: '10m', dedupeHorizon: '24h' },
});
