import { createChdbOfflineStore } from '../../src/adapters/chdb/chdb-offline-store.js';
import { OfflineStoreJobLedger } from '../../src/jobs/offline-job-ledger.js';
import { jobLedgerContract } from '../unit/jobs/ledger.contract.js';

// The run ledger the CLI uses, on chDB (a temporary data directory removed on close).
jobLedgerContract('OfflineStore ledger on chDB', async () => {
  const store = await createChdbOfflineStore();
  const ledger = new OfflineStoreJobLedger(store);
  await ledger.prepare();
  return { ledger, close: () => store.close() };
});
