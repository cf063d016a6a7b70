import { stringify } from 'yaml';
import type { Drone } from '../spec/types.js';
import { writeFileAtomic } from './atomic-file.js';

/** Writes an inventory file (`drones: [{id, url, labels}]`) a rollout spec can point at. */
export async function writeInventory(path: string, drones: readonly Drone[]): Promise<void> {
  const document = { drones: drones.map(({ id, url, labels }) => ({ id, url, labels: { ...labels } })) };
  await writeFileAtomic(path, stringify(document));
}
