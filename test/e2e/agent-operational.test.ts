import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli, startSimProcess, type CliResult } from '../helpers/cli.js';
import { Children, sendJson, startAgentProcess, tempDirPerTest, type AgentProcess } from '../helpers/fleet.js';

/** The operational state through the real CLI: `rollout agent --operational-file`, `rollout fleet sim --airborne`. */

const AIRBORNE = { flight: 'airborne', battery: 48, mission: 'survey-7' };
const GROUNDED = { flight: 'grounded', battery: 100, mission: null };

/** A CLI run that must refuse at once; tracked, so one that starts serving instead is killed after the test. */
function refusal(children: Children, args: readonly string[]): Promise<CliResult> {
  return children.track(startCli(args)).done;
}

describe('rollout agent --operational-file', () => {
  const children = new Children();
  const dir = tempDirPerTest('rollout-agent-operational-', children);

  async function startAgent(args: readonly string[]): Promise<AgentProcess> {
    return children.track(
      await startAgentProcess(['--id', 'd1', '--dir', join(dir.path, 'configs'), '--log-level', 'warn', ...args]),
    );
  }

  it('reports the state in the file in /v1/health, as the file changes, and an error naming it once it is gone', async () => {
    const file = join(dir.path, 'operational.json');
    await writeFile(file, JSON.stringify(AIRBORNE));
    const agent = await startAgent(['--operational-file', file]);

    const inFlight = await sendJson(agent.url, 'GET', '/v1/health');
    await writeFile(file, JSON.stringify(GROUNDED));
    const landed = await sendJson(agent.url, 'GET', '/v1/health');
    await rm(file);
    const gone = await sendJson(agent.url, 'GET', '/v1/health');

    expect(inFlight.status).toBe(200);
    expect(inFlight.body).toMatchObject({
      id: 'd1',
      features: ['pause_hold', 'trial_config', 'operational_state'],
      operational: AIRBORNE,
    });
    expect(landed.body.operational).toEqual(GROUNDED);
    expect(gone.status).toBe(200);
    expect(gone.body.operational).toEqual({ error: expect.stringContaining(`operational state file ${file}`) });
    expect(await agent.stop()).toBe(0);
  });

  it('refuses --operational-file with --operational-url: exit 2 and why', async () => {
    const refused = await refusal(children, [
      'agent',
      '--id',
      'd1',
      '--dir',
      join(dir.path, 'configs'),
      '--port',
      '0',
      '--operational-file',
      join(dir.path, 'operational.json'),
      '--operational-url',
      'http://127.0.0.1:1/state',
    ]);

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--operational-file and --operational-url both given');
  });
});

describe('rollout fleet sim --airborne --battery --mission', () => {
  const children = new Children();
  afterEach(() => children.reap());

  it('starts its drones in those states, and POST /sim/operational lands one', async () => {
    const sim = await startSimProcess(['--drones', '3', '--airborne', 'drone-2', '--battery', 'drone-2=48']);
    try {
      const health = await sendJson(`${sim.url}/d/drone-2`, 'GET', '/v1/health');
      const landed = await sendJson(sim.url, 'POST', '/sim/operational', { drone: 'drone-2', flight: 'grounded' });

      expect(health.body.operational).toEqual({ flight: 'airborne', battery: 48, mission: null });
      expect(landed.body).toEqual({
        drone: 'drone-2',
        operational: { flight: 'grounded', battery: 48, mission: null },
      });
    } finally {
      await sim.stop();
    }
  });

  it('refuses a pair that is not <id>=<percent>: exit 2, naming the flag and the pair', async () => {
    const refused = await refusal(children, [
      'fleet',
      'sim',
      '--port',
      '0',
      '--drones',
      '3',
      '--battery',
      'drone-2=full',
    ]);

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--battery drone-2=full');
  });
});
