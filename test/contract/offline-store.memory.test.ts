import { createChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { ALL_CAPABILITIES, offlineStoreContract } from './offline-store.contract.js';

// chDB runs in-process, so its contract run belongs to the fast unit suite (hence `.memory.`).
// A temporary data directory, removed when the suite closes the store.
offlineStoreContract('chdb (embedded, temporary directory)', () => createChdbOfflineStore(), ALL_CAPABILITIES);
