import { MemoryJobLedger } from '../../../src/jobs/memory-job-ledger.js';
import { jobLedgerContract } from './ledger.contract.js';

jobLedgerContract('memory', async () => ({ ledger: new MemoryJobLedger(), close: async () => {} }));
