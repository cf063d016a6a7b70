import type { Drone } from '../spec/types.js';
import { writeFileAtomic } from '../infra/atomic-write.js';

/**
 * Writes an inventory file (`drones: [{id, url, labels}]`) a rollout spec can point at, as JSON (which
 * is YAML too): one drone per line, and the orchestrator reads 10,000 of them in milliseconds.
 */
export async function writeInventory(path: string, drones: readonly Drone[]): Promise<void> {
  const document = { drones: drones.map(({ id, url, labels }) => ({ id, url, labels: { ...labels } })) };
  const lines = document.drones.map((drone) => `  ${JSON.stringify(drone)}`);
  await writeFileAtomic(path, `{"drones": [\n${lines.join(',\n')}\n]}\n`, { createDir: true });
}
