/**
 * A Taobao shop project: besides views (impressions, with a click on the viewed item) and buys
 * (orders), the log's cart and favourite events are event types of their own, with features
 * built from them: a user's carts and favourites, the items they carted last, an item's cart and
 * favourite counts and its cart rate per view. `tessera replay taobao --project examples/taobao`
 * imports ../shared/data/taobao/UserBehavior_head_84k.csv into these types. The fields are
 * described in docs/project-reference.md.
 */
import { approxDistinct, count, defineProject, lastK, lastSeen, smoothedRatio } from 'tessera/project';

export default defineProject({
  name: 'taobao',
  events: {
    impression: { schema: 'events/Impression.avsc', key: 'userId' },
    click: { schema: 'events/Click.avsc', key: 'userId' },
    order: { schema: 'events/Order.avsc', key: 'userId' },
    item_profile: { schema: 'events/ItemProfile.avsc', key: 'itemId' },
    cart: { schema: 'events/Cart.avsc', key: 'userId' },
    fav: { schema: 'events/Fav.avsc', key: 'userId' },
  },
  entities: {
    shopper: ['userId'],
    product: ['itemId'],
    shopper_category: ['userId', 'categoryId'],
  },
  groups: [
    {
      name: 'shopper',
      entity: 'shopper',
      aggregations: [
        count('impression', ['1h', '1d']),
        count('click', ['1h', '1d']),
        count('cart', ['1d', '7d']),
        count('fav', ['7d']),
        count('order', ['7d']),
        lastK('cart', 'itemId', 10),
        lastSeen('cart'),
        approxDistinct('click', 'categoryId', ['7d']),
      ],
      // carts per click: how often this shopper's interest turns into intent
      derived: [smoothedRatio('cart_rate', { source: 'cart', op: 'count' }, { source: 'click', op: 'count' }, { alpha: 1, beta: 10 }, ['1d'])],
    },
    {
      name: 'product',
      entity: 'product',
      aggregations: [
        count('impression', ['1h', '1d']),
        count('click', ['1d']),
        count('cart', ['1d']),
        count('fav', ['7d']),
        count('order', ['7d']),
      ],
      derived: [
        smoothedRatio('ctr', { source: 'click', op: 'count' }, { source: 'impression', op: 'count' }, { alpha: 1, beta: 20 }, ['1d']),
        smoothedRatio('cart_rate', { source: 'cart', op: 'count' }, { source: 'impression', op: 'count' }, { alpha: 1, beta: 50 }, ['1d']),
      ],
    },
    {
      name: 'shopper_category',
      entity: 'shopper_category',
      aggregations: [count('click', ['7d']), count('cart', ['7d'])],
    },
  ],
  labels: {
    exposure: 'impression',
    click: { source: 'click', window: '30m' },
    conversion: { source: 'order', window: '1d' },
  },
  models: {
    ranker: { kind: 'fm', crosses: [['user', 'category']] },
    buyer: { kind: 'lr', label: 'conversion' },
  },
  stream: { lateness: '10m', dedupeHorizon: '1d' },
});
