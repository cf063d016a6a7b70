import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect } from 'vitest';
import { startEtcd, type EtcdServer } from './etcd.js';
import { rejection } from './rejection.js';

/** The etcd of a describe block, and a plain client on it to look at (and spoil) what the code under test wrote. */
export interface EtcdSuite {
  readonly server: EtcdServer;
  readonly inspector: Etcd3;
}

/**
 * Starts an etcd (see `startEtcd`) in the calling describe block's beforeAll and destroys it in its
 * afterAll, with the inspector if anything opened it. Whether the block runs at all without etcd stays
 * its own call: `describe.skipIf(!etcdAvailable())`.
 */
export function useEtcd(): EtcdSuite {
  let server: EtcdServer | undefined;
  let inspector: Etcd3 | undefined;
  beforeAll(async () => {
    server = await startEtcd();
  });
  afterAll(async () => {
    inspector?.close();
    await server?.destroy();
  });
  const started = (): EtcdServer => {
    if (server === undefined) throw new Error('useEtcd: etcd starts in beforeAll; read it from a hook or a test');
    return server;
  };
  return {
    get server() {
      return started();
    },
    get inspector() {
      inspector ??= new Etcd3({ hosts: started().endpoint });
      return inspector;
    },
  };
}

/**
 * The CLI arguments of one machine of a team sharing the suite's etcd: `on('laptop', 'run', spec)` is
 * `args`, then the etcd as the store and the machine's own state dir, `<root()>/<machine>` (`root` is
 * called each time: the dir may be made in a beforeAll).
 */
export function machineArgs(etcd: EtcdSuite, root: () => string): (machine: string, ...args: string[]) => string[] {
  return (machine, ...args) => [
    ...args,
    '--store',
    `etcd://${etcd.server.endpoint}`,
    '--state-dir',
    join(root(), machine),
  ];
}

/**
 * Stops the suite's etcd and expects each call to fail within 2 s with `code`, saying that etcd at its
 * endpoint did not answer and to check that it runs; starts etcd again, also when an expectation fails.
 */
export async function expectUnansweredWhileStopped(
  etcd: EtcdSuite,
  code: string,
  calls: readonly (() => Promise<unknown>)[],
): Promise<void> {
  await etcd.server.stop();
  try {
    for (const call of calls) {
      const started = performance.now();
      const error = await rejection(call());
      expect(error.code).toBe(code);
      expect(error.message).toContain(`etcd at ${etcd.server.endpoint} did not answer`);
      expect(error.message).toMatch(/check that it runs/);
      expect(performance.now() - started).toBeLessThan(2_000);
    }
  } finally {
    await etcd.server.start();
  }
}
