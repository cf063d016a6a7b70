import { createEmbeddedLockStore, type EmbeddedLockOptions } from '../../src/lock/embedded/store.js';
import type { LockStore } from '../../src/lock/types.js';
import type { ConformanceContext, ConformanceHarness, HostView } from './conformance.js';
import { makeStateDir } from './temp-dir.js';

export const HOST = 'orchestrator-1';
export const BOOT_ID = 'boot-0001';

/** Embedded stores in one temp state dir, wired to the suite's fake clock and process table. */
export async function makeEmbeddedHarness(
  context: ConformanceContext,
  extra: Partial<EmbeddedLockOptions> = {},
): Promise<ConformanceHarness & { readonly dir: string }> {
  const { dir, remove } = await makeStateDir();
  const opened: LockStore[] = [];
  const open = (view: HostView): LockStore => {
    const store = createEmbeddedLockStore({
      dir,
      now: context.clock.now,
      isPidAlive: context.processes.isPidAlive,
      pollMs: 20,
      ...extra,
      ...view,
    });
    opened.push(store);
    return store;
  };
  return {
    dir,
    host: HOST,
    bootId: BOOT_ID,
    store: open({ host: HOST, bootId: BOOT_ID }),
    open: async (view) => open(view),
    dispose: async () => {
      await Promise.all(opened.map((store) => store.close()));
      await remove();
    },
  };
}
