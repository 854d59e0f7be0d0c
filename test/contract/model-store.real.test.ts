import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFsModelStore } from '../../src/adapters/fs/fs-model-store.js';
import { modelStoreContract } from './model-store.contract.js';

// The directory adapter on the local disk (the same code serves an NFS mount).
modelStoreContract('directory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tessera-models-'));
  return {
    store: createFsModelStore(root),
    corrupt: async (model, version, file) => writeFile(join(root, model, 'versions', version, file), 'tampered'),
    crashMidPublish: async (model) => {
      const tmp = join(root, model, '.tmp-crashed');
      await mkdir(tmp, { recursive: true });
      await writeFile(join(tmp, 'p.bin'), 'half');
    },
    cleanup: async () => rm(root, { recursive: true, force: true }),
  };
});
