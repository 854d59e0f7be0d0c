import type { ReferenceEventType, TypedEvent } from '../../../src/events/event-types.js';

/**
 * One fully populated event of every kind. Typed per kind, so the compiler insists that each
 * sample carries every field of its interface: the schema test relies on that to compare the
 * interfaces with the Avro schemas field by field.
 */
export const SAMPLES: { [T in ReferenceEventType]: TypedEvent<T> } = {
  impression: {
    type: 'impression',
    eventId: 'imp-1',
    eventTime: Date.UTC(2024, 4, 1, 12, 0, 0, 123),
    requestId: 'req-1',
    userId: 'u-1',
    itemId: 'i-1',
    categoryId: 'c-1',
    position: 3,
    context: { device: 'mobile', os: 'ios', country: 'FR', city: 'Paris', page: 'home', timezone: 'Europe/Paris' },
  },
  click: {
    type: 'click',
    eventId: 'clk-1',
    eventTime: Date.UTC(2024, 4, 1, 12, 0, 5, 7),
    requestId: 'req-1',
    userId: 'u-1',
    itemId: 'i-1',
    categoryId: null,
    position: 0,
    context: { device: null, os: null, country: 'CN', city: null, page: 'search', timezone: 'Asia/Shanghai' },
  },
  order: {
    type: 'order',
    eventId: 'ord-1',
    eventTime: Date.UTC(2024, 4, 1, 13, 30),
    orderId: 'o-1',
    requestId: null,
    userId: 'u-1',
    itemId: 'i-1',
    categoryId: 'c-1',
    amount: 19.99,
    currency: 'EUR',
    quantity: 2,
    context: { device: 'desktop', os: 'linux', country: null, city: null, page: 'cart', timezone: null },
  },
  item_profile: {
    type: 'item_profile',
    eventId: 'ip-1',
    eventTime: Date.UTC(2024, 0, 1),
    itemId: 'i-1',
    categoryId: 'c-1',
    price: 9.995,
    brand: 'Acme',
  },
  user_profile: {
    type: 'user_profile',
    eventId: 'up-1',
    eventTime: Date.UTC(2024, 0, 2),
    userId: 'u-1',
    ageBucket: '25-34',
    gender: null,
    signupTime: Date.UTC(2019, 6, 14, 8, 9, 10, 11),
  },
};

/** A fixed "now" after every sample, for the validation range check. */
export const NOW = Date.UTC(2024, 5, 1);
