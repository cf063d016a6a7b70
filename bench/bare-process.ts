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
if (!Number.isSafeInteger(Number(fence)) || Number(fence) < 1) {
  throw new Error(`Expected \`fence\` to be a positive integer, got ${JSON.stringify(fence)}`);
}
const client = bareClient();
try {
  await bareRollout(client, url, Number(drones), { tag, fence: Number(fence) });
} finally {
  client.close();
}
