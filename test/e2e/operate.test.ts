import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  copyInto,
  runCli,
  shippedConfig,
  startCli,
  startSimProcess,
  tempDir,
  type SimProcess,
} from '../helpers/cli.js';
import { Children, FILE, fleetHealth, lockTable, parseReport, type Health } from '../helpers/fleet.js';

interface HistoryRow {
  id: string;
  name: string;
  state: string;
  result: string | null;
}

describe('operating rollouts from other shells: status, history, abort, promote, resume, signals', () => {
  const children = new Children();
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    state = await tempDir('rollout-operate-');
    sim = await startSimProcess(['--drones', '8']);
  });

  afterEach(async () => {
    // A run a failed test left behind (at a gate, in a bake) is stopped, not left running.
    await children.reap();
    await sim.stop();
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  const cli = (...args: string[]) => runCli([...args, '--state-dir', state.path]);
  const start = (...args: string[]) => children.track(startCli([...args, '--state-dir', state.path]));

  async function spec(name: string, canary: string, waves = '[{ percent: 100, bake: 0s }]'): Promise<string> {
    const path = join(state.path, `${name}.yaml`);
    await writeFile(
      path,
      [
        `name: ${name}`,
        `config: { file: ${FILE}, source: ${await shippedConfig(state.path)} }`,
        `fleet: { inventory: ${await copyInto(state.path, sim.inventory)} }`,
        `canary: ${canary}`,
        'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
        `waves: ${waves}`,
      ].join('\n'),
    );
    return path;
  }

  async function history(): Promise<HistoryRow[]> {
    return JSON.parse((await cli('history', '--output', 'json')).stdout) as HistoryRow[];
  }

  /** The id of the only rollout, once its record shows the given stage. */
  async function rolloutAt(stage: RegExp): Promise<string> {
    let id = '';
    await expect
      .poll(
        async () => {
          const row = (await history())[0];
          id = row?.id ?? '';
          return row?.state ?? '';
        },
        { timeout: 15_000, interval: 100 },
      )
      .toMatch(stage);
    return id;
  }

  const fleet = async (): Promise<Health[]> => Object.values(await fleetHealth(sim, 8));

  async function expectOneVersion(version: string): Promise<void> {
    for (const drone of await fleet()) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe(version);
    }
  }

  it('abort from another shell: the run rolls back and exits 1; status, history and the audit log say who', async () => {
    const run = start('run', await spec('to-abort', '{ drones: 2, bake: 60s }'), '--output', 'json');
    const id = await rolloutAt(/^canary: baking/);
    const status = JSON.parse((await cli('status', id, '--output', 'json')).stdout) as {
      liveness: string;
      stage: string;
    };
    expect(status).toMatchObject({ liveness: 'running' });

    const abort = await cli('abort', id, '--reason', 'bad smell');
    expect(abort.code, abort.stderr).toBe(0);
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(1);
    expect(JSON.parse(ended.stdout)).toMatchObject({
      result: 'rolled_back',
      reason: expect.stringMatching(/^aborted by .+@.+: bad smell$/),
    });
    expect((await history())[0]).toMatchObject({ id, name: 'to-abort', state: 'ended', result: 'rolled_back' });
    const audit = (await readFile(join(state.path, 'rollouts', id, 'audit.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.find((e) => e.kind === 'operator')).toMatchObject({ type: 'abort', reason: 'bad smell' });
    expect(audit.filter((e) => e.kind === 'push')).toHaveLength(2);
    expect(audit.filter((e) => e.kind === 'rollback')).toHaveLength(2);
    expect(audit.at(-1)).toMatchObject({ kind: 'ended', result: 'rolled_back' });
    await expectOneVersion('v42');
  });

  it('promote passes a manual gate; status --watch follows the run and exits with its code', async () => {
    const run = start('run', await spec('gated', '{ drones: 2, bake: 500ms, approval: manual }'));
    const id = await rolloutAt(/^waiting for `rollout promote \S+`/);
    const watch = start('status', id, '--watch');
    expect((await cli('promote', id)).code).toBe(0);
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(0);
    const watched = await watch.done;
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/promoted \(exit 0\)/);
    const versions = new Set((await fleet()).map((d) => d.configs[FILE]?.version));
    expect(versions.size).toBe(1);
    expect(versions.has('v42')).toBe(false);
  });

  it('promote refuses a rollout that is not at a gate; abort refuses an ended one', async () => {
    const run = start('run', await spec('no-gate', '{ drones: 2, bake: 60s }'));
    const id = await rolloutAt(/^canary: baking/);
    const refused = await cli('promote', id);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/not waiting for approval/);
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(130);
    const late = await cli('abort', id);
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/already ended \(interrupted\)/);
    expect((await cli('status', 'no-such-rollout')).code).toBe(2);
  });

  it('a second SIGINT during the clean-up is ignored with a message, and the run still ends 130', async () => {
    // drone-8 answers slowly, so the clean-up (its resume) lasts long enough for a second signal.
    await sim.stop();
    sim = await startSimProcess(['--drones', '8', '--slow', 'drone-8', '--slow-ms', '1500']);
    const run = start('run', await spec('twice', '{ drones: 2, bake: 60s }'));
    await rolloutAt(/^canary: baking/);
    run.child.kill('SIGINT');
    await expect.poll(() => run.output().stdout, { timeout: 10_000, interval: 10 }).toMatch(/SIGINT: aborting safely/);
    run.child.kill('SIGINT');
    const ended = await run.done;
    expect(ended.code).toBe(130);
    expect(ended.stdout).toMatch(/SIGINT again: still cleaning up/);
    expect(ended.stdout).toMatch(/interrupted: twice/);
    await expectOneVersion('v42');
  });

  for (const mode of ['finish', 'rollback'] as const) {
    it(`resume after SIGKILL mid-bake: ${mode === 'finish' ? 'finishes the rollout' : '--rollback rolls it back'}, fleet on one version, lock free`, async () => {
      const run = start(
        'run',
        await spec(`killed-${mode}`, '{ drones: 2, bake: 2s }', '[{ percent: 100, bake: 500ms }]'),
      );
      const id = await rolloutAt(/^canary: baking/);
      run.child.kill('SIGKILL');
      await run.done;
      expect((await history())[0]).toMatchObject({ id, state: 'gone', result: null });
      expect((await cli('status', id)).stdout).toMatch(/rollout resume/);

      const resumed = await cli('resume', id, '--output', 'json', ...(mode === 'rollback' ? ['--rollback'] : []));
      expect(resumed.code, resumed.stderr).toBe(mode === 'finish' ? 0 : 1);
      const report = JSON.parse(resumed.stdout) as { id: string; result: string };
      expect(report).toMatchObject({ id, result: mode === 'finish' ? 'promoted' : 'rolled_back' });
      const versions = new Set((await fleet()).map((d) => d.configs[FILE]?.version));
      expect(versions.size).toBe(1);
      for (const drone of await fleet()) expect(drone.state).toBe('active');
      if (mode === 'rollback') await expectOneVersion('v42');
      const audit = await readFile(join(state.path, 'rollouts', id, 'audit.ndjson'), 'utf8');
      expect(audit).toMatch(/"kind":"resumed"/);
      expect((await cli('resume', id)).code).toBe(mode === 'finish' ? 0 : 1);
    });
  }

  it('resume of a run killed on another machine waits for its lease to run out, then takes the lock with a larger fence', async () => {
    // Given a run whose process died mid-bake on another machine: this host cannot see its pid, so its
    // lock (TTL 4 s) and its record stay live until their heartbeats are old enough
    const path = await spec('killed-elsewhere', '{ drones: 2, bake: 3s }');
    await writeFile(path, `${await readFile(path, 'utf8')}\nlock: { ttl: 4s }\n`);
    const run = start('run', path);
    const id = await rolloutAt(/^canary: baking/);
    run.child.kill('SIGKILL');
    await run.done;
    const elsewhere = async (file: string, edit: (json: Record<string, unknown>) => void) => {
      const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      edit(json);
      await writeFile(file, JSON.stringify(json));
    };
    await elsewhere(join(state.path, 'locks', 'table.json'), (table) => {
      ((table.locks as Record<string, { owner: { host: string } }>)[FILE] as { owner: { host: string } }).owner.host =
        'hangar-2';
    });
    await elsewhere(join(state.path, 'rollouts', id, 'record.json'), (record) => {
      (record.owner as { host: string }).host = 'hangar-2';
    });
    const killedFence = Math.max(...(await fleet()).map((d) => d.configs[FILE]?.fence ?? 0));
    expect(killedFence).toBeGreaterThan(0);

    // When resumed at once, it is refused: that machine's process may still be running
    const early = await cli('resume', id);
    expect(early.code).toBe(3);
    expect(early.stderr).toMatch(/still running \(pid \d+ on hangar-2\)/);

    // When resumed once the record's heartbeat is old, but the lock's lease has not run out yet: that
    // machine's process renewed its lease after its last record heartbeat (two timers), so the lease
    // outlives the record by a whole TTL however long this host took to see the record gone
    await expect.poll(async () => (await history())[0]?.state, { timeout: 15_000, interval: 250 }).toBe('gone');
    await elsewhere(join(state.path, 'locks', 'table.json'), (table) => {
      ((table.locks as Record<string, { heartbeatAt: number }>)[FILE] as { heartbeatAt: number }).heartbeatAt =
        Date.now();
    });
    const resumed = await cli('resume', id, '--output', 'json');

    // Then it waits for the lease, takes the lock with a larger fence, and finishes
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(
      /the config lock is still held by rollout killed-elsewhere-\S+ \(host hangar-2, pid \d+\).*; waiting up to 6.0s for that lease to run out/,
    );
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id, result: 'promoted' });
    const drones = await fleet();
    for (const drone of drones) expect(drone.state).toBe('active');
    expect(new Set(drones.map((d) => d.configs[FILE]?.version)).size).toBe(1);
    expect(Math.max(...drones.map((d) => d.configs[FILE]?.fence ?? 0))).toBeGreaterThan(killedFence);
  });

  it("resume refuses (exit 3) while the rollout's lock is still renewed, even when its record looks gone, and the live run finishes untouched", async () => {
    // Given a live run whose record names a process that is gone (its record's pid edited to a dead one),
    // while the live process waits at its manual gate and keeps renewing the lock
    const { run, id } = await liveRunWithDeadPid(
      'alive-under-the-record',
      '{ drones: 2, bake: 0s, approval: manual }',
      /^waiting for `rollout promote/,
    );

    // When someone resumes it
    const resumed = await cli('resume', id);

    // Then resume waits for the lease, sees it renewed, and refuses without touching anything
    expect(resumed.code, resumed.stderr).toBe(3);
    expect(resumed.stdout).toMatch(/waiting up to 5\.0s for that lease to run out/);
    expect(resumed.stderr).toMatch(/still being renewed by rollout \S+'s process \d+ on .*, so that process is alive/);
    // and the live run, its record naming its process again, is promoted and finishes
    await recordOwnerPid(id, run.child.pid ?? 0, false);
    expect((await cli('promote', id)).code).toBe(0);
    const finished = await run.done;
    expect(finished.code, finished.stderr).toBe(0);
    expect(JSON.parse(finished.stdout)).toMatchObject({ id, result: 'promoted' });
    await expectOneVersion(parseReport(finished).config.version);
  });

  it('resume waiting on a live run that ends meanwhile reports its result and drives nothing again', async () => {
    // Given a live run that looks gone, in a bake shorter than resume's wait for the lease (5 s)
    const { run, id } = await liveRunWithDeadPid(
      'ends-while-resume-waits',
      '{ drones: 2, bake: 2s }',
      /^canary: baking/,
    );

    // When someone resumes it, and the run ends and releases the lock while resume waits
    const resumed = await cli('resume', id, '--output', 'json');

    // Then resume reports the result the run reached, with its exit code, and writes nothing
    const finished = await run.done;
    expect(finished.code, finished.stderr).toBe(0);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id, result: 'promoted', exitCode: 0, alreadyEnded: true });
    const audit = (await readFile(join(state.path, 'rollouts', id, 'audit.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string });
    expect(audit.filter((event) => event.kind === 'resumed')).toEqual([]);
    expect(audit.filter((event) => event.kind === 'ended')).toHaveLength(1);
    await expectOneVersion(parseReport(finished).config.version);
  });

  it('resume of an ended rollout with --output json prints its result', async () => {
    const path = await spec('ended-then-resumed', '{ drones: 2, bake: 0s }');
    const finished = await cli('run', path, '--output', 'json');
    expect(finished.code, finished.stderr).toBe(0);
    const { id } = JSON.parse(finished.stdout) as { id: string };
    const resumed = await cli('resume', id, '--output', 'json');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id, result: 'promoted', exitCode: 0, alreadyEnded: true });
  });

  /**
   * A run at the given stage whose record names a dead pid, so `status` calls it gone while it runs:
   * in its canary bake, or (with `approval: manual`) at its gate.
   */
  async function liveRunWithDeadPid(name: string, canary: string, stage: RegExp) {
    const path = await spec(name, canary);
    await writeFile(path, `${await readFile(path, 'utf8')}\nlock: { ttl: 3s }\n`);
    const run = start('run', path, '--output', 'json');
    const id = await rolloutAt(stage);
    await recordOwnerPid(id, 2_147_483_646, true);
    return { run, id };
  }

  /** Edits the pid the rollout's record names until `history` shows it gone, or not, as that pid makes it. */
  async function recordOwnerPid(id: string, pid: number, gone: boolean): Promise<void> {
    const recordFile = join(state.path, 'rollouts', id, 'record.json');
    await expect
      .poll(
        async () => {
          const record = JSON.parse(await readFile(recordFile, 'utf8')) as { owner: { pid: number } };
          record.owner.pid = pid;
          await writeFile(recordFile, JSON.stringify(record));
          return (await history())[0]?.state === 'gone';
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(gone);
  }
});
