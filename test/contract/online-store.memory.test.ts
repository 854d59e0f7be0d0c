import { MemoryOnlineStore } from '../../src/adapters/memory/memory-online-store.js';
import { onlineStoreContract } from './online-store.contract.js';

onlineStoreContract('memory', async () => {
  let now = 1_700_000_000_000;
  const store = new MemoryOnlineStore({ now: () => now });
  return {
    store,
    cleanup: () => store.close(),
    advanceTime: async (ms) => {
      now += ms;
    },
  };
});
