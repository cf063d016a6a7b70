import { describe, expect, it } from 'vitest';
import { droneViewState } from '../../src/report/drone-states.js';
import { markdownReport } from '../../src/report/markdown.js';
import { buildRolloutView, type ViewInput } from '../../src/report/rollout-view.js';
import type { AuditEvent, DroneProgressRecord, RolloutRecord } from '../../src/store/types.js';
import { sampleRecord, START } from '../store/conformance.js';

const NEW = { version: 'v43', sha256: '3f2a9c1b' };
const OLD = { version: 'v42', sha256: 'aa11' };

function progress(fields: Partial<DroneProgressRecord> = {}): DroneProgressRecord {
  return { before: OLD, now: OLD, pauseSent: true, pushSent: false, rolledBack: false, lastError: null, ...fields };
}

const t = (s: number) => START + s * 1000;

function transition(s: number, to: string, value: unknown): AuditEvent {
  return { t: t(s), kind: 'transition', to, value };
}

function judgement(
  s: number,
  step: string,
  interval: number,
  canaryMedian: number,
  baselineMedian: number,
): AuditEvent {
  return {
    t: t(s),
    kind: 'judgement',
    step,
    interval,
    verdict: canaryMedian > baselineMedian * 1.25 ? 'fail' : 'pass',
    score: 100,
    reason: 'score 100 ≥ 95',
    metrics: [
      {
        metric: 'trajectory_error',
        verdict: 'pass',
        canaryMedian,
        baselineMedian,
        pValue: 0.42,
        thresholds: { maxIncrease: 0.25, max: 0.05 },
        detail: 'within limits',
      },
    ],
  };
}

/** A rollout of 12 drones whose wave 1 met a HOT drone (drone-7) and rolled back. */
function hotRollout(record: Partial<RolloutRecord> = {}): ViewInput {
  const audit: AuditEvent[] = [
    transition(0, 'pausing the fleet', 'pausingFleet'),
    transition(1, 'taking the config lock', 'acquiringLock'),
    transition(2, 'canary: pushing to 3 drones', { locked: { stages: 'pushing' } }),
    transition(3, 'canary: baking 2 analysis intervals', { locked: { stages: 'baking' } }),
    judgement(4, 'canary', 1, 0.021, 0.02),
    judgement(5, 'canary', 2, 0.022, 0.02),
    transition(6, 'wave 1: pushing to 9 drones', { locked: { stages: 'pushing' } }),
    {
      t: t(6),
      kind: 'push',
      drone: 'drone-7',
      ok: false,
      failure: 'hot',
      error: 'lock mismatch: aim_lock_config.conf HOT',
    },
    transition(7, 'rolling back', { locked: 'rollingBack' }),
    transition(8, 'resuming the fleet', 'resumingFleet'),
    transition(9, 'releasing the config lock', 'releasingLock'),
    transition(10, 'ended', 'abortedHot'),
    { t: t(10), kind: 'ended', result: 'aborted_hot', hot: ['drone-7'] },
  ];
  const drones: Record<string, DroneProgressRecord> = {
    'drone-10': progress({ pauseSent: false }),
    'drone-2': progress({ pauseSent: false, pushSent: true, now: OLD, before: OLD, rolledBack: true }),
    'drone-7': progress({ pauseSent: false, lastError: 'lock mismatch: aim_lock_config.conf HOT' }),
  };
  return {
    record: {
      ...sampleRecord('aim-v43-1'),
      result: 'aborted_hot',
      reason: 'HOT lock mismatch on drone-7',
      stage: 'ended',
      ended: t(10),
      ...record,
    },
    liveness: 'ended',
    progress: drones,
    audit,
    snapshot: { context: { steps: [{ name: 'canary' }, { name: 'wave 1' }, { name: 'wave 2' }] } },
  };
}

describe('the view of a rollout', () => {
  it('puts each stage of a HOT abort in its place: done, failed where it went wrong, skipped past', () => {
    const view = buildRolloutView(hotRollout());
    expect(view.timeline.map((s) => [s.key, s.state])).toEqual([
      ['pause', 'done'],
      ['lock', 'done'],
      ['canary', 'done'],
      ['wave 1', 'failed'],
      ['wave 2', 'skipped'],
      ['rollback', 'done'],
      ['resume', 'done'],
      ['release', 'done'],
    ]);
    expect(view.timeline[2]).toMatchObject({ started: t(2), ended: t(6) });
  });

  it('names the HOT drone, colours every drone and counts the ones not seen as unchanged once ended', () => {
    const view = buildRolloutView(hotRollout());
    expect(view.hot).toEqual(['drone-7']);
    expect(view.drones.map((d) => [d.id, d.state])).toEqual([
      ['drone-2', 'rolled_back'],
      ['drone-7', 'hot'],
      ['drone-10', 'unchanged'],
    ]);
    expect(view.unseenDrones).toBe(9);
    expect(view.counts).toMatchObject({ hot: 1, rolled_back: 1, unchanged: 10, pending: 0 });
  });

  it('charts each metric per interval with its limits: the tightest of the absolute and the relative one', () => {
    const [series] = buildRolloutView(hotRollout()).metrics;
    expect(series?.metric).toBe('trajectory_error');
    expect(series?.points.map((p) => [p.step, p.interval, p.canaryMedian, p.baselineMedian, p.pValue])).toEqual([
      ['canary', 1, 0.021, 0.02, 0.42],
      ['canary', 2, 0.022, 0.02, 0.42],
    ]);
    expect(series?.points[0]?.upper).toBeCloseTo(0.025);
    expect(series?.points[0]?.lower).toBeNull();
  });

  it('marks the current stage of a running rollout and shows its paused drones as paused', () => {
    const input = hotRollout({ result: null, ended: null, stage: 'canary: baking 2 analysis intervals' });
    const running = buildRolloutView({
      ...input,
      liveness: 'running',
      audit: input.audit.slice(0, 5),
      progress: { 'drone-1': progress({ pushSent: true, now: NEW }), 'drone-4': progress() },
    });
    expect(running.timeline.find((s) => s.state === 'current')?.key).toBe('canary');
    expect(running.timeline.filter((s) => s.state === 'pending').map((s) => s.key)).toEqual([
      'wave 1',
      'wave 2',
      'promote',
      'resume',
      'release',
    ]);
    expect(running.drones.map((d) => d.state)).toEqual(['updated', 'paused']);
    expect(running.counts.pending).toBe(10);
    expect(running.resumeCommand).toBeNull();
  });

  it('gives a rollout whose process is gone the command that takes it over, and where it stopped', () => {
    const input = hotRollout({ result: null, ended: null });
    const audit = input.audit.slice(0, 6);
    const view = buildRolloutView({ ...input, audit, liveness: 'gone', storeFlags: ' --state-dir /srv/state' });
    expect(view.resumeCommand).toBe('rollout resume aim-v43-1 --state-dir /srv/state');
    expect(view.timeline.find((s) => s.key === 'canary')?.state).toBe('stopped');
    expect(view.timeline.find((s) => s.key === 'wave 1')?.state).toBe('pending');
  });

  it('skips, once ended, every stage the rollout never entered', () => {
    const input = hotRollout();
    const stoppedAtPause = [...input.audit.slice(0, 1), ...input.audit.slice(8)].filter(
      (e) => e.kind !== 'transition' || e.value !== 'releasingLock',
    );
    const view = buildRolloutView({ ...input, audit: stoppedAtPause, snapshot: null });
    expect(view.timeline.map((s) => [s.key, s.state])).toEqual([
      ['pause', 'failed'],
      ['lock', 'skipped'],
      ['rollback', 'done'],
      ['resume', 'done'],
      ['release', 'skipped'],
    ]);
  });

  it('keeps the newest audit events first, at most the limit asked for, and says how many there are', () => {
    const view = buildRolloutView({ ...hotRollout(), eventLimit: 3 });
    expect(view.events.map((e) => e.kind)).toEqual(['ended', 'transition', 'transition']);
    expect(view.eventCount).toBe(13);
  });
});

describe('a drone state', () => {
  const flags = { hot: false, attention: false, ended: false };
  const ended = { ...flags, ended: true };
  it('reads the ledger against the new config', () => {
    expect(droneViewState(progress({ pauseSent: false, before: null, now: null }), NEW.sha256, flags)).toBe('pending');
    expect(droneViewState(progress(), NEW.sha256, flags)).toBe('paused');
    expect(droneViewState(progress({ pushSent: true }), NEW.sha256, flags)).toBe('pushed');
    expect(droneViewState(progress({ pushSent: true, now: NEW, unconfirmed: true }), NEW.sha256, flags)).toBe('pushed');
    expect(droneViewState(progress({ pushSent: true, now: NEW }), NEW.sha256, flags)).toBe('updated');
    expect(droneViewState(progress({ pushSent: true, lastError: 'HTTP 500' }), NEW.sha256, flags)).toBe('failed');
    expect(droneViewState(progress({ deferred: { until: 1, reason: 'airborne' } }), NEW.sha256, flags)).toBe(
      'deferred',
    );
    expect(droneViewState(progress({ pushSent: true, now: NEW }), NEW.sha256, { ...flags, hot: true })).toBe('hot');
    expect(droneViewState(progress({ pushSent: true }), NEW.sha256, ended)).toBe('failed');
  });

  it('shows a drone this rollout did not push as not updated, even when it already ran the new config', () => {
    const already = progress({ before: NEW, now: NEW });
    expect(droneViewState(already, NEW.sha256, flags)).toBe('paused');
    expect(droneViewState({ ...already, pauseSent: false }, NEW.sha256, ended)).toBe('unchanged');
  });

  it('shows a drone whose rollback failed, or that the end left for a human, as failed, not updated', () => {
    const stuck = progress({ pushSent: true, now: NEW, lastError: 'rollback: HTTP 500' });
    expect(droneViewState(stuck, NEW.sha256, flags)).toBe('failed');
    expect(droneViewState(progress({ pushSent: true, now: NEW }), NEW.sha256, { ...ended, attention: true })).toBe(
      'failed',
    );
  });
});

describe('the Markdown report', () => {
  it('leads with the result and the HOT drone, then the drones, the verdict table and the timeline', () => {
    const text = markdownReport(buildRolloutView(hotRollout()));
    expect(text.split('\n')[0]).toBe('## aim-sensitivity-v43: aborted_hot (exit 4)');
    expect(text).toContain('**HOT lock mismatch on drone-7**');
    expect(text).toContain('Drones: rolled back 1, unchanged 10, HOT 1.');
    expect(text).toContain('| drone-7 | HOT | v42 | lock mismatch: aim_lock_config.conf HOT |');
    expect(text).toContain('| canary | 1 | pass | 100 | trajectory_error pass: 0.021 vs 0.02, p=0.42 |');
    expect(text).toContain('| wave 1 | failed |');
  });

  it('keeps text from the store inside its table cell', () => {
    const input = hotRollout({ reason: 'x' });
    const drones = { 'drone-7': progress({ lastError: 'a | b\nc' }) };
    const text = markdownReport(buildRolloutView({ ...input, progress: drones }));
    expect(text).toContain('| drone-7 | HOT | v42 | a \\| b c |');
  });

  it('makes no link, image, HTML or code of what a drone answered', () => {
    const drones = { 'drone-7': progress({ lastError: '![x](http://evil.example/p.png) <img src=x> `rm`' }) };
    const text = markdownReport(buildRolloutView({ ...hotRollout(), progress: drones }));
    expect(text).toContain('\\!\\[x\\](http://evil.example/p.png) \\<img src=x\\> \\`rm\\`');
  });
});
