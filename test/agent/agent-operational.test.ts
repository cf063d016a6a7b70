import { writeFile, utimes } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { operationalFile, operationalUrl, type OperationalSource } from '../../src/agent/operational-source.js';
import { agentCommand, type AgentCommandOptions } from '../../src/cli/commands/serve.js';
import { COMMANDS, main, type Commands } from '../../src/cli/program.js';
import { RolloutError } from '../../src/errors.js';
import { agentFixture } from './agent-fixture.js';
import { call, tempDirs } from './helpers.js';

/** The vehicle's operational state: where the agent reads it, and the answers that carry it. */

const AIRBORNE = { flight: 'airborne', battery: 62.5, mission: 'survey-7' } as const;
const GROUNDED = { flight: 'grounded', battery: 100, mission: null } as const;

const dirs = tempDirs();
afterEach(dirs.cleanup);

/** A state file in a fresh temp dir holding `content` (JSON unless a string), written now. */
async function stateFile(content: unknown): Promise<string> {
  const path = join(await dirs.make(), 'operational.json');
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The error a view holds; fails the test when the view is a state. */
function errorOf(view: unknown): string {
  expect(view).toEqual({ error: expect.any(String) });
  return (view as { error: string }).error;
}

describe('operationalFile', () => {
  test('reads the state in the file, afresh at each read', async () => {
    const path = await stateFile(AIRBORNE);
    const source = operationalFile(path);

    const before = await source.read();
    await writeFile(path, JSON.stringify(GROUNDED));
    const after = await source.read();

    expect(before).toEqual(AIRBORNE);
    expect(after).toEqual(GROUNDED);
  });

  test('a missing file is an error naming the path', async () => {
    const path = join(await dirs.make(), 'nowhere.json');

    const error = errorOf(await operationalFile(path).read());

    expect(error).toContain(path);
    expect(error).toContain('does not exist');
  });

  test('a file that is not JSON (empty, or half written) is an error naming the path', async () => {
    for (const content of ['', '{"flight": "airb']) {
      const path = await stateFile(content);

      const error = errorOf(await operationalFile(path).read());

      expect(error).toContain(path);
      expect(error).toContain('is not JSON');
    }
  });

  test('a state of the wrong shape is an error naming the key', async () => {
    const cases = [
      [{ ...AIRBORNE, battery: 150 }, '"battery"'],
      [{ ...AIRBORNE, flight: 'hovering' }, '"flight"'],
      [{ battery: 50, mission: null }, '"flight" is missing'],
      [{ ...AIRBORNE, mission: '' }, '"mission"'],
      [{ ...AIRBORNE, speed: 12 }, '"speed"'],
      [[AIRBORNE], 'expected one JSON object'],
    ] as const;
    for (const [content, named] of cases) {
      const path = await stateFile(content);

      const error = errorOf(await operationalFile(path).read());

      expect(error).toContain(path);
      expect(error).toContain(named);
    }
  });

  test('a file not rewritten within maxAgeMs is stale, by its mtime: an error, never the state it holds', async () => {
    const path = await stateFile(AIRBORNE);
    const source = operationalFile(path, { maxAgeMs: 60_000 });
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await utimes(path, twoMinutesAgo, twoMinutesAgo);

    const stale = errorOf(await source.read());
    await writeFile(path, JSON.stringify(AIRBORNE));
    const rewritten = await source.read();

    expect(stale).toContain(path);
    expect(stale).toMatch(/not updated for 12\d s, longer than --operational-max-age 1m/u);
    expect(rewritten).toEqual(AIRBORNE);
  });

  test('a file modified further in the future than maxAgeMs is an error too: its age cannot be told', async () => {
    const path = await stateFile(AIRBORNE);
    const tenMinutesAhead = new Date(Date.now() + 600_000);
    await utimes(path, tenMinutesAhead, tenMinutesAhead);

    const error = errorOf(await operationalFile(path, { maxAgeMs: 60_000 }).read());

    expect(error).toContain(path);
    expect(error).toContain('in the future');
  });

  test("the file's age is measured on the injected clock", async () => {
    const path = await stateFile(GROUNDED);
    let now = Date.now();
    const source = operationalFile(path, { maxAgeMs: 5_000, now: () => now });

    const fresh = await source.read();
    now += 6_000;
    const stale = await source.read();

    expect(fresh).toEqual(GROUNDED);
    expect(errorOf(stale)).toContain('not updated for');
  });

  test('refuses options that cannot be', () => {
    expect(() => operationalFile('')).toThrow(TypeError);
    expect(() => operationalFile('/x.json', { maxAgeMs: 0 })).toThrow(
      'Expected `maxAgeMs` to be an integer from 1 and up, got `0` (number)',
    );
  });
});

describe('operationalUrl', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map((server) => {
        server.closeAllConnections();
        return new Promise((done) => server.close(done));
      }),
    );
  });

  /** A local endpoint answering `status` and `body`, or never when `body` is undefined. */
  async function endpoint(status: number, body?: string): Promise<string> {
    const server = createServer((_request, response) => {
      if (body === undefined) return;
      response.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/state`;
  }

  test('reads the state the endpoint answers', async () => {
    const url = await endpoint(200, JSON.stringify(AIRBORNE));

    expect(await operationalUrl(url).read()).toEqual(AIRBORNE);
  });

  test('an answer other than 2xx, of the wrong shape, or none in time is an error naming the URL', async () => {
    const failing = await endpoint(503, 'starting');
    const malformed = await endpoint(200, JSON.stringify({ ...AIRBORNE, battery: -1 }));
    const silent = await endpoint(200);

    const errors = [
      errorOf(await operationalUrl(failing).read()),
      errorOf(await operationalUrl(malformed).read()),
      errorOf(await operationalUrl(silent, { timeoutMs: 100 }).read()),
    ];

    expect(errors[0]).toContain(`${failing} answered HTTP 503`);
    expect(errors[1]).toContain(malformed);
    expect(errors[1]).toContain('"battery"');
    expect(errors[2]).toContain(`${silent} did not answer within 100 ms`);
  });

  test('an endpoint nothing listens on is an error', async () => {
    const url = await endpoint(200, '{}');
    const [server] = servers.splice(0);
    await new Promise((done) => server?.close(done));

    expect(errorOf(await operationalUrl(url).read())).toContain(`cannot reach operational state endpoint ${url}`);
  });

  test('refuses a URL that is not http(s)', () => {
    expect(() => operationalUrl('file:///run/state.json')).toThrow(TypeError);
    expect(() => operationalUrl('localhost:8900')).toThrow(TypeError);
  });
});

describe('health and pause', () => {
  const agents = agentFixture();
  afterEach(agents.cleanup);

  test('with a source, both carry the operational state and health lists the operational_state feature', async () => {
    const path = await stateFile(AIRBORNE);
    const agent = await agents.start({ operational: operationalFile(path) });

    const health = await call(agent.url, 'GET', '/v1/health');
    await writeFile(path, JSON.stringify(GROUNDED));
    const pause = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });

    expect(health.status).toBe(200);
    expect(health.body.features).toEqual(['pause_hold', 'trial_config', 'operational_state']);
    expect(health.body.operational).toEqual(AIRBORNE);
    expect(pause.status).toBe(200);
    expect(pause.body).toMatchObject({ state: 'paused', operational: GROUNDED });
  });

  test('without a source, neither carries one and the feature is not listed', async () => {
    const agent = await agents.start();

    const health = await call(agent.url, 'GET', '/v1/health');
    const pause = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });

    expect(health.body.features).toEqual(['pause_hold', 'trial_config']);
    expect(health.body).not.toHaveProperty('operational');
    expect(pause.body).not.toHaveProperty('operational');
  });

  test('a state the source cannot tell is in the answer as an error; the request still succeeds', async () => {
    const missing = join(await dirs.make(), 'missing.json');
    const agent = await agents.start({ operational: operationalFile(missing) });

    const health = await call(agent.url, 'GET', '/v1/health');

    expect(health.status).toBe(200);
    expect(errorOf(health.body.operational)).toContain(missing);
    expect(agent.lines).toContainEqual(
      expect.objectContaining({ level: 40, msg: expect.stringContaining('operational state unknown at start') }),
    );
  });

  test('a source that throws does not fail health or pause: its message is the error', async () => {
    const throwing: OperationalSource = { read: () => Promise.reject(new Error('autopilot link down')) };
    const agent = await agents.start({ operational: throwing });

    const health = await call(agent.url, 'GET', '/v1/health');
    const pause = await call(agent.url, 'POST', '/v1/pause', { rollout: 'r-1' });

    expect(health.status).toBe(200);
    expect(errorOf(health.body.operational)).toContain('autopilot link down');
    expect(pause.status).toBe(200);
    expect(errorOf(pause.body.operational)).toContain('autopilot link down');
  });
});

describe('rollout agent flags', () => {
  let given: Record<string, unknown>[];
  let commands: Commands;
  beforeEach(() => {
    given = [];
    commands = {
      ...COMMANDS,
      agent: async (options) => {
        given.push({ ...options });
        return 0;
      },
    };
    // Commander's own usage errors would clutter the test output.
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  const run = (...args: string[]) => main(['node', 'rollout', 'agent', '--id', 'd1', '--dir', 'x', ...args], commands);

  test('--operational-file, --operational-url and --operational-max-age as a duration in ms', async () => {
    expect(await run('--operational-file', 'state.json', '--operational-max-age', '90s')).toBe(0);
    expect(await run('--operational-url', 'http://127.0.0.1:8900/state')).toBe(0);
    expect(await run()).toBe(0);

    expect(given[0]).toMatchObject({ operationalFile: 'state.json', operationalMaxAgeMs: 90_000 });
    expect(given[1]).toMatchObject({ operationalUrl: 'http://127.0.0.1:8900/state' });
    expect(given[1]).not.toHaveProperty('operationalMaxAgeMs');
    expect(given[2]).not.toHaveProperty('operationalFile');
    expect(given[2]).not.toHaveProperty('operationalUrl');
    for (const age of ['soon', '0s', '60', '25h']) expect(await run('--operational-max-age', age)).toBe(2);
    expect(given).toHaveLength(3);
  });

  test('both sources, a URL that is not http(s), or a max age without a file is E_USAGE', async () => {
    const options = (change: Partial<AgentCommandOptions>): AgentCommandOptions => ({
      id: 'd1',
      dir: 'unused',
      port: 0,
      host: '127.0.0.1',
      output: 'text',
      logLevel: 'silent',
      ...change,
    });
    const cases: [Partial<AgentCommandOptions>, string][] = [
      [
        { operationalFile: 'state.json', operationalUrl: 'http://127.0.0.1:8900/state' },
        '--operational-file and --operational-url both given',
      ],
      [{ operationalUrl: 'ftp://127.0.0.1/state' }, '--operational-url "ftp://127.0.0.1/state": expected an http'],
      [{ operationalUrl: '127.0.0.1:8900' }, '--operational-url "127.0.0.1:8900": expected an http'],
      [
        { operationalUrl: 'http://127.0.0.1:8900/state', operationalMaxAgeMs: 5_000 },
        '--operational-max-age applies to --operational-file only',
      ],
    ];
    for (const [change, message] of cases) {
      const refused = agentCommand(options(change));
      await expect(refused).rejects.toBeInstanceOf(RolloutError);
      await expect(refused).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringContaining(message) });
    }
  });
});
