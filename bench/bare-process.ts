/**
 * The bare client's rollout in a process of its own (`node bare-process.js <fleet url> <drones> <tag>
 * <fence> [reading]`): what the bare client costs when it starts cold, as `rollout run` does, instead of
 * warm inside the bench's process; with `reading`, a client that reads and parses every answer.
 */
import { bareClient, bareRollout } from './harness.js';

const [url, drones, tag, fence, mode] = process.argv.slice(2);
if (url === undefined || drones === undefined || tag === undefined || fence === undefined) {
  throw new Error('usage: bare-process.js <fleet url> <drones> <tag> <fence> [reading]');
}
if (mode !== undefined && mode !== 'reading') {
  throw new Error(`Expected the fifth argument to be \`reading\` or nothing, got ${JSON.stringify(mode)}`);
}
if (!Number.isSafeInteger(Number(fence)) || Number(fence) < 1) {
  throw new Error(`Expected \`fence\` to be a positive integer, got ${JSON.stringify(fence)}`);
}
const client = bareClient(undefined, mode === 'reading');
try {
  await bareRollout(client, url, Number(drones), { tag, fence: Number(fence) });
} finally {
  client.close();
}
