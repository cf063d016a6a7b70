import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { StateStore } from '../../src/store/types.js';
import type { StateStoreContext, StateStoreHarness } from './conformance.js';
import { makeStateDir } from './temp-dir.js';

/** Embedded stores over one fresh state dir. */
export async function makeEmbeddedHarness(
  context: StateStoreContext,
): Promise<StateStoreHarness & { readonly dir: string }> {
  const { dir, remove } = await makeStateDir();
  const opened: StateStore[] = [];
  return {
    dir,
    open: () => {
      const store = createEmbeddedStateStore({ dir, now: context.now });
      opened.push(store);
      return store;
    },
    corruptRecord: async (id) => {
      const file = join(dir, 'rollouts', id, 'record.json');
      await writeFile(file, '{"id": "');
      return file;
    },
    dispose: async () => {
      await Promise.all(opened.map((store) => store.close()));
      await remove();
    },
  };
}
