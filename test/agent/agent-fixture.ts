import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startAgent, type AgentOptions, type RunningServer } from '../../src/agent/agent-server.js';
import { DEFAULT_SEED, modelTelemetry } from '../../src/simulator/model-telemetry.js';
import { FILE, INITIAL_CONFIG, memoryLogger, tempDirs } from './helpers.js';

export interface TestAgent {
  readonly url: string;
  readonly dir: string;
  readonly lines: Record<string, unknown>[];
  readonly logger: Logger;
  close(): Promise<void>;
}

/**
 * Agents on loopback over temp dirs; `cleanup()` closes every agent and removes every dir (afterEach).
 * A new dir starts with the initial aim lock config, as a drone fresh from the factory; telemetry comes
 * from the simulator's model, as in `rollout agent`.
 */
export function agentFixture(): {
  readonly start: (options?: Partial<AgentOptions> & { readonly dir?: string }) => Promise<TestAgent>;
  readonly cleanup: () => Promise<void>;
} {
  const dirs = tempDirs();
  const servers: RunningServer[] = [];
  return {
    start: async (options = {}) => {
      let dir = options.dir;
      if (dir === undefined) {
        dir = await dirs.make();
        await writeFile(join(dir, FILE), INITIAL_CONFIG);
      }
      const { logger, lines } = memoryLogger();
      // The model `rollout agent` reports; a test that wants a drone without sensors passes `telemetry`.
      const server = await startAgent({
        id: 'drone-a',
        logger,
        telemetry: modelTelemetry({ keyOf: () => DEFAULT_SEED }),
        ...options,
        dir,
      });
      servers.push(server);
      return { url: server.url, dir, lines, logger, close: () => server.close() };
    },
    cleanup: async () => {
      await Promise.all(servers.splice(0).map((server) => server.close()));
      await dirs.cleanup();
    },
  };
}
