/**
 * The bare client's rollout in a process of its own (`node bare-process.js <fleet url> <drones> <tag>
 * <fence>`): what the bare client costs when it starts cold, as `rollout run` does, instead of warm inside
 * the bench's process.
 */
import { bareClient, bareRollout } from './harness.js';

const [url, drones, tag, fence] = process.argv.slice(2);
if (url === undefined || drones === undefined || tag === undefined || fence === undefined) {
  throw new Error('usage: bare-process.js <fleet url> <drones> <tag> <fence>');
}
const client = bareClient();
try {
  await bareRollout(client, url, Number(drones), { tag, fence: Number(fence) });
} finally {
  client.close();
}
