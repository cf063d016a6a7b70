import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runCommand } from './commands/run.js';

interface Scenario {
  readonly spec: string;
  /** `fleet sim` flags of the scenario's faults. */
  readonly faults: readonly string[];
  readonly expect: string;
}

/** The three shipped scenarios: `npm start`, `npm start -- bad`, `npm start -- hot`. */
const SCENARIOS: Readonly<Partial<Record<string, Scenario>>> = {
  good: { spec: 'rollouts/aim-sensitivity.yaml', faults: [], expect: 'promoted, exit 0' },
  bad: {
    spec: 'rollouts/aim-sensitivity-bad.yaml',
    faults: [],
    expect: 'rolled back by telemetry analysis, exit 1',
  },
  // HOT when wave 1's push reaches it: the canary has passed by then, so the abort has drones to roll back.
  hot: {
    spec: 'rollouts/aim-sensitivity-hot.yaml',
    faults: ['--hot-on-push', 'drone-7'],
    expect: 'aborted: drone-7 turns HOT when wave 1 pushes to it, exit 4',
  },
};

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEMO_STATE_DIR = join(root, '.rollout', 'demo');

/** Starts `rollout fleet sim` in its own process and resolves with its URL once it listens. */
async function startSim(inventory: string, faults: readonly string[]) {
  const args = [
    join(root, 'dist', 'cli', 'bin.js'),
    'fleet',
    'sim',
    '--drones',
    '20',
    '--port',
    '0',
    '--inventory-out',
    inventory,
    '--output',
    'json',
    ...faults,
  ];
  const sim = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((done) => sim.once('exit', (code) => done(code)));
  const lines = createInterface({ input: sim.stdout });
  const ready = new Promise<string>((done, fail) => {
    lines.once('line', (line) => done((JSON.parse(line) as { url: string }).url));
    sim.once('exit', (code, signal) =>
      fail(
        new Error(
          code === null
            ? `the simulated fleet was killed by ${signal ?? 'a signal'} before it was ready`
            : `the simulated fleet exited with code ${code} before it was ready`,
        ),
      ),
    );
  });
  return { url: await ready, stop: async () => (sim.kill('SIGTERM'), await exited) };
}

async function demo(name: string): Promise<number> {
  const scenario = SCENARIOS[name];
  if (!scenario) {
    process.stderr.write(
      `unknown scenario "${name}": choose one of ${Object.keys(SCENARIOS).join(', ')} (npm start -- bad)\n`,
    );
    return 2;
  }
  const work = await mkdtemp(join(tmpdir(), 'fleet-rollout-demo-'));
  const inventory = join(work, 'fleet.yaml');
  const sim = await startSim(inventory, scenario.faults);
  try {
    process.stdout.write(`demo "${name}": 20 simulated drones on ${sim.url}; expected: ${scenario.expect}\n`);
    const history = `npx rollout history --state-dir ${relative(process.cwd(), DEMO_STATE_DIR)}`;
    process.stdout.write(`its rollouts, locks and logs: ${DEMO_STATE_DIR} (\`${history}\` lists them)\n`);
    const ui = `npx rollout ui --state-dir ${relative(process.cwd(), DEMO_STATE_DIR)}`;
    process.stdout.write(`watch it in a browser: \`${ui}\` in another shell, then http://127.0.0.1:7300/\n\n`);
    // Its own state dir and the embedded store whatever the environment says: a demo must neither wait
    // for a real rollout's lock nor land in a team's history on etcd.
    return await runCommand({
      spec: join(root, scenario.spec),
      inventory,
      stateDir: DEMO_STATE_DIR,
      store: 'embedded',
      output: 'text',
      logLevel: 'warn',
    });
  } finally {
    await sim.stop();
    await rm(work, { recursive: true, force: true });
  }
}

process.exitCode = await demo(process.argv[2] ?? 'good');
