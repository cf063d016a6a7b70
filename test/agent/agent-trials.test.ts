import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { sha256Hex } from '../../src/agent/checksum.js';
import { agentFixture, type TestAgent } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, INITIAL_CONFIG, pushBody, type JsonReply } from './helpers.js';

/*
 * Trial configs: a push with `trialMs` installs a config the drone reverts by itself (to the version
 * the push replaced) unless the rollout that pushed it confirms it in time, so a fleet whose
 * orchestrator died mid-rollout goes back to what it ran.
 */

const agents = agentFixture();
afterEach(agents.cleanup);

const PUSH_PATH = `/v1/configs/${FILE}`;
const ROLLBACK_PATH = `/v1/configs/${FILE}/rollback`;
const CONFIRM_PATH = `/v1/configs/${FILE}/confirm`;
const V42 = { version: 'v42', sha256: sha256Hex(INITIAL_CONFIG) };
const V43 = { version: 'v43', sha256: sha256Hex(GOOD_CONFIG) };
const REVERTED_MSG = `the trial of ${FILE} v43 by rollout r-1 was not confirmed in time: reverted to v42 by itself`;

/** A clock the test moves by hand; deadlines are read against it. */
function manualClock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

interface Fields {
  readonly rollout?: string;
  readonly fence?: number;
}

/** The drone on v42 (pushed by rollout r-0, fence 1, no trial), then v43 pushed by r-1 on trial. */
async function onTrial(agent: TestAgent, trialMs: number, fields: Fields = {}): Promise<JsonReply> {
  await call(agent.url, 'PUT', PUSH_PATH, pushBody(INITIAL_CONFIG, { rollout: 'r-0', version: 'v42', fence: 1 }));
  return call(agent.url, 'PUT', PUSH_PATH, trialPush(GOOD_CONFIG, trialMs, fields));
}

function trialPush(content: string, trialMs: number, fields: Fields & { readonly version?: string } = {}) {
  return { ...pushBody(content, { rollout: 'r-1', fence: 2, ...fields }), trialMs };
}

function confirm(agent: TestAgent, content: string, fields: Fields = {}): Promise<JsonReply> {
  return call(agent.url, 'POST', CONFIRM_PATH, {
    rollout: fields.rollout ?? 'r-1',
    fence: fields.fence ?? 2,
    sha256: sha256Hex(content),
  });
}

async function configOf(agent: TestAgent): Promise<Record<string, unknown> | undefined> {
  const { configs } = (await call(agent.url, 'GET', '/v1/health')).body as {
    configs: Record<string, Record<string, unknown>>;
  };
  return configs[FILE];
}

const revertWarnings = (agent: TestAgent) => agent.lines.filter((line) => line.msg === REVERTED_MSG);

describe('a push on trial', () => {
  test('installs the config on trial, and a confirm keeps it past the deadline', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });

    const pushed = await onTrial(agent, 60_000);

    expect(pushed).toEqual({
      status: 200,
      body: { ...V43, previous: V42, seq: expect.any(Number), trial: { rollout: 'r-1', expiresInMs: 60_000 } },
    });
    clock.advance(45_000);
    expect(await configOf(agent)).toEqual({
      ...V43,
      lock: 'free',
      fence: 2,
      trial: { rollout: 'r-1', expiresInMs: 15_000 },
    });

    const confirmed = await confirm(agent, GOOD_CONFIG);

    expect(confirmed).toEqual({ status: 200, body: { ...V43, confirmed: true } });
    expect(agent.lines).toContainEqual(
      expect.objectContaining({ level: 30, rollout: 'r-1', msg: `confirmed the trial of ${FILE} v43: it stays` }),
    );
    expect(await configOf(agent)).toEqual({ ...V43, lock: 'free', fence: 2 });

    // Past the deadline, a restart (which reverts what is due) leaves the confirmed config alone.
    await agent.close();
    clock.advance(60_000);
    const restarted = await agents.start({ dir: agent.dir, now: clock.now });
    expect(await configOf(restarted)).toEqual({ ...V43, lock: 'free', fence: 2 });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(GOOD_CONFIG);
    expect(revertWarnings(restarted)).toEqual([]);
  });

  test('unconfirmed, is reverted at its deadline by the drone itself, which says so', async () => {
    const agent = await agents.start();
    await onTrial(agent, 250);
    expect(await configOf(agent)).toMatchObject({ ...V43, trial: { rollout: 'r-1' } });

    await expect.poll(async () => (await configOf(agent))?.version, { timeout: 5_000 }).toBe('v42');

    expect(await configOf(agent)).toEqual({
      ...V42,
      lock: 'free',
      fence: 2,
      reverted: { ...V43, rollout: 'r-1', at: expect.any(Number) },
    });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
    expect(revertWarnings(agent)).toEqual([
      expect.objectContaining({ level: 40, drone: 'drone-a', file: FILE, rollout: 'r-1', from: 'v43', to: 'v42' }),
    ]);
  });

  test('keeps its deadline across a restart: a drone down past it reverts at boot', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await onTrial(agent, 60_000);
    await agent.close();

    clock.advance(30_000);
    const early = await agents.start({ dir: agent.dir, now: clock.now });
    expect(await configOf(early)).toMatchObject({ ...V43, trial: { rollout: 'r-1', expiresInMs: 30_000 } });
    await early.close();

    clock.advance(30_000);
    const late = await agents.start({ dir: agent.dir, now: clock.now });
    expect(await configOf(late)).toEqual({
      ...V42,
      lock: 'free',
      fence: 2,
      reverted: { ...V43, rollout: 'r-1', at: clock.now() },
    });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
    expect(revertWarnings(late)).toHaveLength(1);
  });

  test('waits while another owner holds the local lock (HOT), and reverts once it is freed', async () => {
    const agent = await agents.start();
    await onTrial(agent, 500);
    await plantForeignLock(agent.dir);

    await expect
      .poll(() => agent.lines.some((line) => String(line.msg).includes('is due, but its local lock is held')), {
        timeout: 5_000,
      })
      .toBe(true);
    expect(await configOf(agent)).toEqual({
      ...V43,
      lock: 'HOT',
      fence: 2,
      trial: { rollout: 'r-1', expiresInMs: 0 },
    });

    await rm(join(agent.dir, '.agent', 'locks', FILE));

    await expect.poll(async () => (await configOf(agent))?.version, { timeout: 5_000 }).toBe('v42');
    expect(revertWarnings(agent)).toHaveLength(1);
  });

  test('a retried push keeps the trial and its deadline; under a higher fence (a resumed rollout) the trial starts again', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await onTrial(agent, 60_000);
    clock.advance(20_000);

    const retried = await call(agent.url, 'PUT', PUSH_PATH, trialPush(GOOD_CONFIG, 60_000));
    const resumed = await call(agent.url, 'PUT', PUSH_PATH, trialPush(GOOD_CONFIG, 60_000, { fence: 3 }));

    expect(retried.body).toMatchObject({ ...V43, previous: V42, trial: { rollout: 'r-1', expiresInMs: 40_000 } });
    // The resumed rollout bakes the step again before it confirms: its trial gets the whole time again.
    expect(resumed.body).toMatchObject({ ...V43, previous: V42, trial: { rollout: 'r-1', expiresInMs: 60_000 } });
    // The trial moved to the new fence: the resumed rollout confirms with it.
    expect(await confirm(agent, GOOD_CONFIG, { fence: 3 })).toMatchObject({ status: 200 });
    expect(await configOf(agent)).toEqual({ ...V43, lock: 'free', fence: 3 });
  });

  test("a push over another rollout's unconfirmed trial keeps what that trial replaced as the version to go back to", async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await onTrial(agent, 600_000);

    const other = await call(
      agent.url,
      'PUT',
      PUSH_PATH,
      pushBody(GOOD_CONFIG.replace('0.85', '0.80'), { rollout: 'r-2', version: 'v44', fence: 3 }),
    );
    expect(other.body).toMatchObject({ version: 'v44', previous: V42 });
    expect((await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-2', fence: 3 })).body).toMatchObject({
      ...V42,
      restored: true,
    });
    expect(await configOf(agent)).toEqual({ ...V42, lock: 'free', fence: 3 });
  });

  test('is refused beyond a day, and trialMs must be a positive integer', async () => {
    const agent = await agents.start();
    for (const trialMs of [0, -5, 1.5, 86_400_001, '2m']) {
      const refused = await call(agent.url, 'PUT', PUSH_PATH, { ...pushBody(GOOD_CONFIG), trialMs });
      expect(refused.status, String(trialMs)).toBe(400);
      expect(refused.body).toMatchObject({ error: 'bad_request', field: 'trialMs' });
    }
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });
});

describe('a push without trialMs (an orchestrator that predates trials)', () => {
  test('has no trial and never reverts', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(INITIAL_CONFIG, { rollout: 'r-0', version: 'v42', fence: 1 }));

    const pushed = await call(agent.url, 'PUT', PUSH_PATH, pushBody(GOOD_CONFIG, { fence: 2 }));
    await agent.close();
    clock.advance(2 * 86_400_000);
    const restarted = await agents.start({ dir: agent.dir, now: clock.now });

    expect(pushed).toEqual({ status: 200, body: { ...V43, previous: V42, seq: expect.any(Number) } });
    expect(await configOf(restarted)).toEqual({ ...V43, lock: 'free', fence: 2 });
  });

  test('after a trial, clears it: the new config stays', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await onTrial(agent, 60_000);

    await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { version: 'v44', fence: 2 }));
    clock.advance(120_000);
    const rolledBack = await call(agent.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 2 });

    // Nothing reverted by itself: the rollback restores what v44 replaced, as without trials.
    expect(rolledBack.body).toMatchObject({ ...V43, restored: true });
    expect(revertWarnings(agent)).toEqual([]);
  });
});

describe('confirm', () => {
  test('after the drone reverted the trial is 409 trial_reverted, naming the version it went back to and when', async () => {
    const clock = manualClock(Date.parse('2026-12-02T01:00:03.000Z'));
    const agent = await agents.start({ id: 'drone-3', now: clock.now });
    await onTrial(agent, 120_000);
    clock.advance(120_000);

    // The deadline has passed: the drone reverts before it looks at the confirm, timer or not.
    const late = await confirm(agent, GOOD_CONFIG);

    expect(late).toEqual({
      status: 409,
      body: {
        error: 'trial_reverted',
        file: FILE,
        version: 'v42',
        message: `drone-3 reverted ${FILE} to v42 by itself at 2026-12-02T01:02:03.000Z: the trial of v43 was not confirmed within 2m`,
        at: Date.parse('2026-12-02T01:02:03.000Z'),
      },
    });
    expect(await configOf(agent)).toMatchObject({ ...V42, reverted: { ...V43, rollout: 'r-1' } });
    expect(await confirm(agent, GOOD_CONFIG)).toMatchObject({ status: 409, body: { error: 'trial_reverted' } });
  });

  test('is idempotent: a confirmed config, or one never on trial, confirms again with the same answer', async () => {
    const agent = await agents.start();
    await onTrial(agent, 60_000);

    const first = await confirm(agent, GOOD_CONFIG);
    const again = await confirm(agent, GOOD_CONFIG);
    await call(agent.url, 'PUT', PUSH_PATH, pushBody(BAD_CONFIG, { version: 'v44', fence: 2 }));
    const neverOnTrial = await confirm(agent, BAD_CONFIG);

    expect(first).toEqual({ status: 200, body: { ...V43, confirmed: true } });
    expect(again).toEqual(first);
    expect(neverOnTrial).toEqual({
      status: 200,
      body: { version: 'v44', sha256: sha256Hex(BAD_CONFIG), confirmed: true },
    });
    expect(agent.lines.filter((line) => String(line.msg).startsWith('confirmed the trial'))).toHaveLength(1);
  });

  test('of a config the drone does not run is 409 config_changed, naming what it runs; the trial goes on', async () => {
    const agent = await agents.start({ id: 'drone-3' });
    await onTrial(agent, 60_000);

    const wrong = await confirm(agent, BAD_CONFIG);

    expect(wrong).toEqual({
      status: 409,
      body: {
        error: 'config_changed',
        file: FILE,
        ...V43,
        message: `drone-3 cannot confirm ${FILE} at sha256 ${sha256Hex(BAD_CONFIG)}: it runs v43 (sha256 ${V43.sha256}) now`,
      },
    });
    expect(await configOf(agent)).toMatchObject({ ...V43, trial: { rollout: 'r-1' } });
  });

  test("from another rollout is 409 config_changed: only a trial's own rollout confirms it", async () => {
    const agent = await agents.start({ id: 'drone-3' });
    await onTrial(agent, 60_000);

    const other = await confirm(agent, GOOD_CONFIG, { rollout: 'r-2', fence: 3 });

    expect(other).toMatchObject({
      status: 409,
      body: {
        error: 'config_changed',
        message: `drone-3 cannot confirm ${FILE} for rollout r-2: v43 is on trial by rollout r-1, and only the rollout that pushed a trial confirms it`,
      },
    });
    expect(await configOf(agent)).toMatchObject({ fence: 2, trial: { rollout: 'r-1' } });
  });

  test('with a stale fence is 409 stale_fence and confirms nothing', async () => {
    const agent = await agents.start();
    await onTrial(agent, 60_000, { fence: 5 });

    const stale = await confirm(agent, GOOD_CONFIG, { fence: 4 });

    expect(stale).toMatchObject({ status: 409, body: { error: 'stale_fence', file: FILE, highestFence: 5, fence: 4 } });
    expect(await configOf(agent)).toMatchObject({ ...V43, trial: { rollout: 'r-1' } });
  });

  test('is refused with a 400 naming the field, and with 404 for a config the drone does not have', async () => {
    const agent = await agents.start();

    const noSha = await call(agent.url, 'POST', CONFIRM_PATH, { rollout: 'r-1', fence: 1 });
    const unknown = await call(agent.url, 'POST', '/v1/configs/other.conf/confirm', {
      rollout: 'r-1',
      fence: 1,
      sha256: sha256Hex(GOOD_CONFIG),
    });

    expect(noSha).toMatchObject({ status: 400, body: { error: 'bad_request', field: 'sha256' } });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'unknown_config' } });
  });
});

describe('after a revert', () => {
  test('the rollback of the same rollout is a no-op: restored false', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await onTrial(agent, 60_000);
    clock.advance(60_000);
    await agent.close();
    const restarted = await agents.start({ dir: agent.dir, now: clock.now });

    const rollback = await call(restarted.url, 'POST', ROLLBACK_PATH, { rollout: 'r-1', fence: 2 });

    expect(rollback).toEqual({ status: 200, body: { ...V42, restored: false, seq: expect.any(Number) } });
    expect(await readFile(join(agent.dir, FILE), 'utf8')).toBe(INITIAL_CONFIG);
  });

  test('a push again from that rollout (resumed) installs normally, with a new trial', async () => {
    const clock = manualClock();
    const agent = await agents.start({ now: clock.now });
    await onTrial(agent, 60_000);
    clock.advance(90_000);

    // The re-push finds the trial due: the drone reverts it first, then installs the push anew.
    const again = await call(agent.url, 'PUT', PUSH_PATH, trialPush(GOOD_CONFIG, 60_000, { fence: 3 }));

    expect(revertWarnings(agent)).toHaveLength(1);
    expect(again).toEqual({
      status: 200,
      body: { ...V43, previous: V42, seq: expect.any(Number), trial: { rollout: 'r-1', expiresInMs: 60_000 } },
    });
    expect(await configOf(agent)).toEqual({
      ...V43,
      lock: 'free',
      fence: 3,
      trial: { rollout: 'r-1', expiresInMs: 60_000 },
    });
    expect(await confirm(agent, GOOD_CONFIG, { fence: 3 })).toMatchObject({ status: 200 });
  });
});

test('metadata written by an agent that predates trials loads, and a trial push works on it', async () => {
  const first = await agents.start();
  await first.close();
  await mkdir(join(first.dir, '.agent', 'meta'), { recursive: true });
  const old = {
    current: V42,
    installedBy: { rollout: 'r-0', fence: 1, action: 'push' },
    previous: null,
    highestFence: 1,
    fenceOwner: 'r-0',
    retired: null,
    pending: null,
  };
  await writeFile(join(first.dir, '.agent', 'meta', FILE), JSON.stringify(old));
  const agent = await agents.start({ dir: first.dir });

  expect(await configOf(agent)).toEqual({ ...V42, lock: 'free', fence: 1 });
  const pushed = await call(agent.url, 'PUT', PUSH_PATH, trialPush(GOOD_CONFIG, 60_000));
  expect(pushed.body).toMatchObject({ ...V43, previous: V42, trial: { rollout: 'r-1' } });
});

/** A lock file as another live process holds it: this test process's pid, on this host. */
async function plantForeignLock(dir: string): Promise<void> {
  await mkdir(join(dir, '.agent', 'locks'), { recursive: true });
  const at = Date.now();
  const record = {
    file: FILE,
    owner: { pid: process.pid, host: hostname(), rollout: 'other-rollout' },
    fence: 9,
    acquired: at,
    heartbeat: at,
    token: 'someone-else',
  };
  await writeFile(join(dir, '.agent', 'locks', FILE), JSON.stringify(record));
}
