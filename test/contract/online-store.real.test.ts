import { expect } from 'vitest';
import { createRedisOnlineStore } from '../../src/adapters/redis/redis-online-store.js';
import { TEST_REDIS_URL, randomName } from '../helpers/env.js';
import { onlineStoreContract } from './online-store.contract.js';

// The Redis started by `scripts/services.sh up redis`; every case writes under its own random prefix.
onlineStoreContract(`redis at ${TEST_REDIS_URL}`, async () => {
  const prefix = `${randomName('contract')}:`;
  const store = createRedisOnlineStore({ url: TEST_REDIS_URL, keyPrefix: prefix });
  await store.connect();
  return {
    store,
    cleanup: async () => {
      // a second store on the same prefix, since the case may have closed its own
      const janitor = createRedisOnlineStore({ url: TEST_REDIS_URL, keyPrefix: prefix });
      try {
        await janitor.deleteByPrefix('');
        expect(await janitor.deleteByPrefix('')).toBe(0);
      } finally {
        await janitor.close();
        await store.close();
      }
    },
    advanceTime: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
});
