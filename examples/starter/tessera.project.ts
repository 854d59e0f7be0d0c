/**
 * A feature project, as `tessera init` writes it: rename the events, add your own, and change the
 * groups to the features your models need. Every field is described in Tessera's
 * docs/project-reference.md. Check it with `tessera features list`; Tessera's commands run on it with
 * `--project <this folder>` or TESSERA_PROJECT.
 */
import { count, defineProject, lastK, smoothedRatio, sum } from 'tessera/project';

export default defineProject({
  name: 'shop',
  // one Avro schema per event type; `key` is the field its topic is partitioned by
  events: {
    impression: { schema: 'events/Impression.avsc', key: 'userId' },
    click: { schema: 'events/Click.avsc', key: 'userId' },
    purchase: { schema: 'events/Purchase.avsc', key: 'userId' },
    add_to_cart: { schema: 'events/AddToCart.avsc', key: 'userId' },
  },
  // who features describe: the event fields that identify them
  entities: {
    user: ['userId'],
    item: ['itemId'],
  },
  groups: [
    {
      name: 'user',
      entity: 'user',
      aggregations: [
        count('impression', ['1h', '1d']),
        count('click', ['1h', '1d']),
        sum('add_to_cart', 'quantity', ['7d']),
        lastK('click', 'itemId', 10),
      ],
    },
    {
      name: 'item',
      entity: 'item',
      aggregations: [count('impression', ['1d']), count('click', ['1d']), count('purchase', ['7d'])],
      derived: [smoothedRatio('ctr', { source: 'click', op: 'count' }, { source: 'impression', op: 'count' }, { alpha: 1, beta: 20 }, ['1d'])],
    },
  ],
  // which events label a sample: the impression it is made of, its click, its conversion
  labels: {
    exposure: 'impression',
    click: { source: 'click', window: '30m' },
    conversion: { source: 'purchase', window: '1d' },
  },
  // the inputs of each model `tessera train --inputs <name>` trains
  models: {
    ranker: { kind: 'fm' },
  },
});
