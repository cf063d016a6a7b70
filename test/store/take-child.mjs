// A separate process taking operator commands for the cross-process race: it prints `ready`, waits for
// a line on stdin so that every child starts together, then takes commands in a loop, printing one JSON
// line per command it got, until a second line arrives; it takes once more, prints `done` and exits.
// It also stops when stdin ends, so a test that dies cannot leave it running.
// argv: <built store module dir> <state dir> <rollout id>
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, stateDir, id] = process.argv.slice(2);
const { createEmbeddedStateStore } = await import(pathToFileURL(join(moduleDir, 'src/store/embedded/store.js')).href);

const store = createEmbeddedStateStore({ dir: stateDir });
let lines = 0;
let wake = () => undefined;
process.stdin.setEncoding('utf8').on('data', (chunk) => {
  lines += chunk.split('\n').length - 1;
  wake();
});
process.stdin.on('end', () => {
  lines = 2;
  wake();
});
process.stdout.write('ready\n');
await new Promise((resolve) => {
  wake = resolve;
});
const print = (commands) => {
  for (const command of commands) process.stdout.write(`${JSON.stringify(command)}\n`);
};
while (lines < 2) {
  print(await store.takeCommands(id));
}
print(await store.takeCommands(id));
await store.close();
process.stdout.write('done\n');
process.stdin.destroy();
