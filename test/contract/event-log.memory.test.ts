import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { eventLogContract } from './event-log.contract.js';

eventLogContract('memory', async () => {
  const log = new MemoryEventLog();
  return { log, cleanup: () => log.close() };
});
