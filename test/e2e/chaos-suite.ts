import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  auditProblems,
  countKinds,
  inStage,
  killAt,
  lastStage,
  logged,
  readAudit,
  startedLogged,
  startHoldingProxy,
  type Hold,
  type HoldingProxy,
  type KillPoint,
} from '../helpers/chaos.js';
import { shippedConfig, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { Children, FILE, fleetHealth, lockTable, parseReport, within } from '../helpers/fleet.js';
import { EXIT_CODES } from '../../src/rollout/report.js';

/**
 * Durable rollouts: a real `rollout run` is SIGKILLed at many points, then `rollout resume <id>` (or
 * `--rollback`) must leave the fleet on one version, every drone active, no lock held, and an audit log
 * that tells the whole story. Each case gets a fresh simulated fleet and state dir.
 *
 * The runner writes audit events at every transition and, within a stage, once a second; so to kill
 * "after the k-th push" the stage must last longer than that. A proxy in front of the fleet holds one
 * request for 1.5 s (see `Hold`), which widens exactly that window: held `before` the drone acts, the
 * drones after it (at concurrency 1) are never reached; held `after`, the drone acted and the killed
 * rollout never heard of it.
 */

const DRONES = 8;
const OLD_VERSION = 'v42';

interface SpecShape {
  /** The bad config: trajectory_error +90 %, which analysis fails. */
  readonly bad?: boolean;
  readonly concurrency: 1 | 2;
  /** Canary bake; 0s skips analysis. @default '0s' */
  readonly bake?: string;
  /** @default '[{ percent: 100, bake: 0s }]' */
  readonly waves?: string;
}

interface ChaosCase {
  readonly point: KillPoint;
  readonly holds?: readonly Hold[];
  readonly spec: SpecShape;
  /** `rollout resume <id> --rollback`. */
  readonly rollback?: boolean;
  /**
   * Resume while a held request of the killed process is still on its way (it lands during or after the
   * resume). Otherwise the resume starts once every held request has reached its drone.
   */
  readonly lateLanding?: boolean;
  /** A double kill: the first resume is killed too, at this point, then the rollout is resumed again. */
  readonly resumeKilledAt?: KillPoint;
  readonly expected: 'promoted' | 'rolled_back' | 'unchanged';
}

const pausing = /^pausing the fleet$/;
const canaryPush = /^canary: pushing/;
const canaryBake = /^canary: baking/;
const wave1Push = /^wave 1: pushing/;
const wave2Push = /^wave 2: pushing/;
const rollingBack = /^rolling back$/;
const resuming = /^resuming the fleet$/;
/** The bad config with a 1 s canary bake (two analysis intervals): analysis fails it, so it rolls back. */
const BAD = { bad: true, bake: '1s' } as const;

/** In the second analysis interval, reading telemetry (its snapshot says so, not only its audit log). */
const midAnalysis: KillPoint = {
  label: 'mid bake (reading telemetry for the 2nd verdict)',
  reached: ({ events, snapshot }) => events.some((e) => e.kind === 'verdict') && snapshot.includes('"analysing"'),
};

const CASES: readonly ChaosCase[] = [
  {
    point: startedLogged,
    holds: [{ drone: 'drone-1', kind: 'pause', when: 'before' }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    point: inStage('mid pause (7th pause, 8th in flight)', pausing, 'pause', 7),
    holds: [{ drone: 'drone-8', kind: 'pause', when: 'before' }],
    spec: { concurrency: 2 },
    rollback: true,
    expected: 'unchanged',
  },
  {
    point: inStage('mid pause (5th pause, 6th in flight, 7th-8th not sent)', pausing, 'pause', 5),
    holds: [{ drone: 'drone-6', kind: 'pause', when: 'before' }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    point: inStage('mid pause (3rd pause, 4th paused unanswered)', pausing, 'pause', 3),
    holds: [{ drone: 'drone-4', kind: 'pause', when: 'after' }],
    spec: { concurrency: 1 },
    rollback: true,
    expected: 'unchanged',
  },
  {
    point: logged('after lock.acquired (1st push in flight)', 'lock.acquired'),
    holds: [{ drone: 'drone-1', kind: 'push', when: 'before' }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    // Killed once drone-1 has taken the push, while its answer is held: the process never hears it landed.
    point: {
      label: 'after lock.acquired (1st push landed unanswered)',
      reached: ({ answered }) => answered('push', 'drone-1') > 0,
    },
    holds: [{ drone: 'drone-1', kind: 'push', when: 'after' }],
    spec: { concurrency: 1 },
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: inStage('mid canary push (1st push, 2nd in flight, 3rd not sent)', canaryPush, 'push', 1),
    holds: [{ drone: 'drone-2', kind: 'push', when: 'before' }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    point: inStage('mid canary push (1st push, 2nd in flight, 3rd not sent)', canaryPush, 'push', 1),
    holds: [{ drone: 'drone-2', kind: 'push', when: 'before' }],
    spec: { concurrency: 1 },
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: inStage('mid canary push (1st push, 2nd in flight until after the resume)', canaryPush, 'push', 1),
    holds: [{ drone: 'drone-2', kind: 'push', when: 'before', ms: 4_000 }],
    spec: { concurrency: 1 },
    lateLanding: true,
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: inStage('mid canary push (2nd push, 1st landed unanswered)', canaryPush, 'push', 2),
    holds: [{ drone: 'drone-1', kind: 'push', when: 'after' }],
    spec: { concurrency: 2 },
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: inStage('mid canary push (2nd push, 3rd landed unanswered)', canaryPush, 'push', 2),
    holds: [{ drone: 'drone-3', kind: 'push', when: 'after' }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    point: inStage('mid bake (1st verdict of 2)', canaryBake, 'verdict', 1),
    spec: { concurrency: 2, bake: '1s' },
    expected: 'promoted',
  },
  {
    point: inStage('mid bake (1st verdict of 2)', canaryBake, 'verdict', 1),
    spec: { concurrency: 2, bake: '1s' },
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: midAnalysis,
    holds: [{ drone: 'drone-1', kind: 'telemetry', when: 'before', times: 10 }],
    spec: { concurrency: 2, bake: '1s' },
    expected: 'promoted',
  },
  {
    point: inStage('mid bake of a bad config (1st failed verdict)', canaryBake, 'verdict', 1),
    spec: { ...BAD, concurrency: 2 },
    expected: 'rolled_back',
  },
  {
    point: inStage('mid bake of a bad config (1st failed verdict)', canaryBake, 'verdict', 1),
    spec: { ...BAD, concurrency: 2 },
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: inStage('mid wave (1st push, 2nd in flight)', wave1Push, 'push', 1),
    holds: [{ drone: 'drone-5', kind: 'push', when: 'before' }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    point: inStage('mid wave (4th push, 1st landed unanswered)', wave1Push, 'push', 4),
    holds: [{ drone: 'drone-4', kind: 'push', when: 'after' }],
    spec: { concurrency: 2 },
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: inStage('mid second wave (1st push, 2nd in flight)', wave2Push, 'push', 1),
    holds: [{ drone: 'drone-6', kind: 'push', when: 'before' }],
    spec: { concurrency: 1, waves: '[{ percent: 50, bake: 0s }, { percent: 100, bake: 0s }]' },
    expected: 'promoted',
  },
  {
    point: inStage('mid rollback (1st rollback, 2nd in flight)', rollingBack, 'rollback', 1),
    holds: [{ drone: 'drone-2', kind: 'rollback', when: 'before' }],
    spec: { ...BAD, concurrency: 1 },
    expected: 'rolled_back',
  },
  {
    point: inStage('mid rollback (2nd rollback, 1st done unanswered)', rollingBack, 'rollback', 2),
    holds: [{ drone: 'drone-1', kind: 'rollback', when: 'after' }],
    spec: { ...BAD, concurrency: 2 },
    rollback: true,
    expected: 'rolled_back',
  },
  {
    point: inStage('resuming a promoted fleet (2nd resume, 3rd in flight)', resuming, 'resume', 2),
    holds: [{ drone: 'drone-3', kind: 'resume', when: 'before' }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    point: inStage('resuming a promoted fleet (7th resume, 8th unanswered)', resuming, 'resume', 7),
    holds: [{ drone: 'drone-8', kind: 'resume', when: 'after' }],
    spec: { concurrency: 2 },
    rollback: true,
    expected: 'promoted',
  },
  {
    point: inStage('resuming a rolled-back fleet (1st resume)', resuming, 'resume', 1),
    holds: [{ drone: 'drone-4', kind: 'resume', when: 'before' }],
    spec: { ...BAD, concurrency: 2 },
    expected: 'rolled_back',
  },
  {
    point: startedLogged,
    resumeKilledAt: inStage('its resume mid pause (1st pause)', pausing, 'pause', 1),
    holds: [{ drone: 'drone-8', kind: 'pause', when: 'before', times: 2 }],
    spec: { concurrency: 2 },
    expected: 'promoted',
  },
  {
    point: inStage('mid canary push (1st push)', canaryPush, 'push', 1),
    resumeKilledAt: inStage('its resume mid canary push (1st push again)', canaryPush, 'push', 1),
    holds: [{ drone: 'drone-2', kind: 'push', when: 'before', times: 2 }],
    spec: { concurrency: 1 },
    expected: 'promoted',
  },
  {
    point: inStage('mid rollback (1st rollback)', rollingBack, 'rollback', 1),
    resumeKilledAt: inStage('its resume resuming the fleet (1st resume)', resuming, 'resume', 1),
    holds: [
      { drone: 'drone-2', kind: 'rollback', when: 'before' },
      { drone: 'drone-2', kind: 'resume', when: 'before' },
    ],
    spec: { ...BAD, concurrency: 1 },
    rollback: true,
    expected: 'rolled_back',
  },
];

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/**
 * The cases whose index has the given parity (`#1`, `#3`, … or `#2`, `#4`, …), numbered as in the whole
 * list: two test files, so the two workers of `npm test` share the longest suite instead of one of them
 * running it alone at the end.
 */
export function chaosSuite(parity: 0 | 1): void {
  describe(`durable rollouts: SIGKILL a real run anywhere, \`rollout resume\` leaves the fleet on one version (${parity === 0 ? 'odd' : 'even'} cases)`, () => {
    const children = new Children();
    let sim: SimProcess | undefined;
    let proxy: HoldingProxy | undefined;
    let state: { path: string; remove(): Promise<void> };

    beforeEach(async () => {
      state = await tempDir('rollout-chaos-');
    });

    afterEach(async () => {
      await children.reap();
      await proxy?.close();
      await sim?.stop();
      proxy = undefined;
      sim = undefined;
      await state.remove();
    });

    /** The spec, with an inventory whose drones are reached through the proxy. */
    async function writeSpec(name: string, fleet: SimProcess, via: HoldingProxy, shape: SpecShape): Promise<string> {
      const inventory = join(state.path, 'fleet.yaml');
      await writeFile(inventory, (await readFile(fleet.inventory, 'utf8')).replaceAll(fleet.url, via.url));
      const path = join(state.path, `${name}.yaml`);
      const config = shape.bad ? 'aim_lock_config.bad.conf' : 'aim_lock_config.conf';
      await writeFile(
        path,
        [
          `name: ${name}`,
          `config: { file: ${FILE}, source: ${await shippedConfig(state.path, config)} }`,
          `fleet: { inventory: ${inventory} }`,
          `canary: { drones: 3, bake: ${shape.bake ?? '0s'} }`,
          'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: trajectory_error, max_increase: 25% }] }',
          `waves: ${shape.waves ?? '[{ percent: 100, bake: 0s }]'}`,
          `push: { concurrency: ${shape.concurrency}, timeout: 5s, retries: 2 }`,
        ].join('\n'),
      );
      return path;
    }

    const resumeArgs = (id: string, rollback: boolean) => [
      'resume',
      id,
      '--output',
      'json',
      ...(rollback ? ['--rollback'] : []),
      '--state-dir',
      state.path,
    ];

    CASES.forEach((c, index) => {
      if (index % 2 !== parity) return;
      const label = `${c.point.label}${c.resumeKilledAt ? `, then ${c.resumeKilledAt.label}` : ''}`;
      it(`#${index + 1} killed ${label}; resume${c.rollback ? ' --rollback' : ''} → ${c.expected}`, async () => {
        const began = Date.now();
        const fleet = (sim = await startSimProcess(['--drones', String(DRONES)]));
        const via = (proxy = await startHoldingProxy(fleet.url, c.holds ?? []));
        const spec = await writeSpec(`chaos-${index + 1}`, fleet, via, c.spec);

        const killed = await killAt(
          children.track(startCli(['run', spec, '--output', 'json', '--state-dir', state.path])),
          state.path,
          c.point,
          { proxy: via },
        );
        const killedAfter = Date.now() - began;
        const { id } = killed;
        if (!c.lateLanding) await via.idle();
        if (c.resumeKilledAt) {
          const first = children.track(startCli(resumeArgs(id, false)));
          await killAt(first, state.path, c.resumeKilledAt, { id, from: killed.after.length });
          await via.idle();
        }
        const resumeStart = Date.now();
        const resumed = await within(
          children.track(startCli(resumeArgs(id, c.rollback ?? false))).done,
          20_000,
          `rollout resume ${id}`,
        );
        const resumedIn = Date.now() - resumeStart;
        const exitCode = EXIT_CODES[c.expected];
        expect(resumed.code, resumed.stderr).toBe(exitCode);
        const report = parseReport(resumed);
        expect(report).toMatchObject({ id, result: c.expected, exitCode });

        // Requests the killed processes sent and the proxy still holds land now, before the fleet is checked.
        await via.idle();
        const [drones, locks, audit] = await Promise.all([
          fleetHealth(fleet, DRONES),
          lockTable(state.path),
          readAudit(state.path, id),
        ]);
        const version = c.expected === 'promoted' ? report.config.version : OLD_VERSION;
        expect(report.config.version).not.toBe(OLD_VERSION);
        expect(
          Object.fromEntries(
            Object.entries(drones).map(([drone, h]) => [drone, `${h.state} ${h.configs[FILE]?.version}`]),
          ),
        ).toEqual(Object.fromEntries(Object.keys(drones).map((drone) => [drone, `active ${version}`])));
        expect(Object.keys(drones)).toHaveLength(DRONES);
        expect(locks).toEqual([]);
        const versions = Object.fromEntries(
          Object.entries(drones).map(([drone, h]) => [drone, h.configs[FILE]?.version]),
        );
        expect(auditProblems(audit, c.expected, versions, report.config.version)).toEqual([]);

        console.log(
          `chaos #${index + 1}: killed ${label} [it had logged ${countKinds(killed.seen)}; at "${lastStage(killed.seen)}"]; resume${c.rollback ? ' --rollback' : ''} → ${report.result} (exit ${resumed.code}); ${seconds(Date.now() - began)} s (killed after ${seconds(killedAfter)} s, last resume ${seconds(resumedIn)} s)`,
        );
      });
    });
  });
}
