import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActor, toPromise, waitFor, type Snapshot } from 'xstate';
import { withEffects } from '../../src/rollout/machine.js';
import { stageLabel } from '../../src/rollout/stage.js';
import type { RolloutInput, RolloutOutput } from '../../src/rollout/machine-types.js';
import { FakeEffects, steps } from './fake-effects.js';

const input: RolloutInput = {
  rolloutId: 'r1',
  steps: steps(['canary', 2], ['wave 1', 1], ['wave 2', 1]),
  failureLimit: 1,
  inconclusiveWaits: false,
};

function start(effects: FakeEffects, overrides: Partial<RolloutInput> = {}) {
  const actor = createActor(withEffects(effects), { input: { ...input, ...overrides } });
  actor.start();
  return actor;
}

async function run(effects: FakeEffects, overrides: Partial<RolloutInput> = {}): Promise<RolloutOutput> {
  return toPromise(start(effects, overrides));
}

/** Invariant 4: whatever the end, every pause is resumed and a held lock released, last of all. */
function expectCleanEnd(effects: FakeEffects): void {
  expect(effects.calls).toContain('resume');
  const locked = effects.calls.includes('lease:7');
  expect(effects.calls.at(-1)).toBe(locked ? 'release:7' : 'resume');
  if (locked) expect(effects.leaseStopped).toBe(true);
}

function pushesAfter(effects: FakeEffects, marker: string): string[] {
  return effects.calls.slice(effects.calls.indexOf(marker) + 1).filter((c) => c.startsWith('push:'));
}

describe('rollout machine', () => {
  it('promotes through canary and waves with analysis between, then resumes and releases', async () => {
    const effects = new FakeEffects();
    const output = await run(effects);
    expect(output.result).toBe('promoted');
    expect(effects.calls).toEqual([
      'pause',
      'lock',
      'lease:7',
      'check',
      'push:0:7',
      'analyse:0:0',
      'analyse:0:1',
      'push:1:7',
      'analyse:1:0',
      'push:2:7',
      'analyse:2:0',
      'verify',
      'resume',
      'release:7',
    ]);
    expect(output.verdicts.map((v) => `${v.step}#${v.interval}:${v.verdict}`)).toEqual([
      'canary#1:pass',
      'canary#2:pass',
      'wave 1#1:pass',
      'wave 2#1:pass',
    ]);
    expectCleanEnd(effects);
  });

  it('skips analysis for a zero-bake step', async () => {
    const effects = new FakeEffects();
    const output = await run(effects, { steps: steps(['canary', 0], ['wave 1', 0]) });
    expect(output.result).toBe('promoted');
    expect(effects.calls.filter((c) => c.startsWith('analyse'))).toEqual([]);
  });

  it('tolerates failed intervals up to failure_limit', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['fail', 'pass'];
    expect((await run(effects)).result).toBe('promoted');
  });

  it('rolls back when failed intervals exceed failure_limit, and pushes nothing more', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['fail', 'fail'];
    const output = await run(effects);
    expect(output.result).toBe('rolled_back');
    expect(output.reason).toMatch(/analysis failed in canary: interval fail/);
    expect(pushesAfter(effects, 'analyse:0:1')).toEqual([]);
    expect(effects.calls).toContain('rollback:7');
    expectCleanEnd(effects);
  });

  it('rolls back a step whose every interval was inconclusive', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['inconclusive', 'inconclusive'];
    const output = await run(effects);
    expect(output.result).toBe('rolled_back');
    expect(output.reason).toMatch(/no analysis interval of canary passed/);
  });

  it('aborts HOT at pause without taking the lock or pushing', async () => {
    const effects = new FakeEffects();
    effects.pauseOutcome = { hot: ['drone-7'] };
    const output = await run(effects);
    expect(output).toMatchObject({ result: 'aborted_hot', hot: ['drone-7'] });
    expect(effects.calls).toEqual(['pause', 'resume']);
  });

  for (const stepIndex of [0, 1, 2]) {
    it(`aborts HOT during the push of step ${stepIndex}: no new push, rollback, resume, release`, async () => {
      const effects = new FakeEffects();
      effects.pushOutcomes.set(stepIndex, { hot: ['drone-7'] });
      const output = await run(effects);
      expect(output).toMatchObject({ result: 'aborted_hot', hot: ['drone-7'] });
      expect(output.reason).toMatch(/HOT lock mismatch on drone-7/);
      expect(pushesAfter(effects, `push:${stepIndex}:7`)).toEqual([]);
      expect(effects.calls.slice(-3)).toEqual(['rollback:7', 'resume', 'release:7']);
      expectCleanEnd(effects);
    });
  }

  it('aborts HOT reported in telemetry during a bake', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['pass', 'pass', 'hot'];
    const output = await run(effects);
    expect(output).toMatchObject({ result: 'aborted_hot', hot: ['drone-9'] });
    expect(pushesAfter(effects, 'analyse:1:0')).toEqual([]);
    expectCleanEnd(effects);
  });

  it('ends lock_busy when another rollout holds the lock: fleet resumed, nothing pushed', async () => {
    const effects = new FakeEffects();
    effects.lockOutcome = { acquired: false, holder: 'held by rollout other (host h, pid 1)' };
    const output = await run(effects);
    expect(output.result).toBe('lock_busy');
    expect(output.reason).toMatch(/held by rollout other/);
    expect(effects.calls).toEqual(['pause', 'lock', 'resume']);
  });

  it('rolls back when a push breaches the abort budget', async () => {
    const effects = new FakeEffects();
    effects.pushOutcomes.set(1, { hot: [], abortReason: '2 drones refused' });
    const output = await run(effects);
    expect(output).toMatchObject({ result: 'rolled_back', reason: '2 drones refused' });
    expectCleanEnd(effects);
  });

  it('rolls back when a push effect throws', async () => {
    const effects = new FakeEffects();
    effects.pushOutcomes.set(0, new Error('disk full'));
    const output = await run(effects);
    expect(output.result).toBe('rolled_back');
    expect(output.reason).toMatch(/pushing canary failed: disk full/);
    expectCleanEnd(effects);
  });

  it('needs attention when the rollback leaves drones behind, and still resumes and releases', async () => {
    const effects = new FakeEffects();
    effects.pushOutcomes.set(1, { hot: ['drone-7'] });
    effects.rollbackOutcome = { incomplete: ['drone-2'] };
    const output = await run(effects);
    expect(output).toMatchObject({ result: 'needs_attention', attention: ['drone-2'], hot: ['drone-7'] });
    expectCleanEnd(effects);
  });

  it('needs attention when the rollback throws', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['fail', 'fail'];
    effects.rollbackOutcome = new Error('store gone');
    const output = await run(effects);
    expect(output.result).toBe('needs_attention');
    expect(output.reason).toMatch(/rollback failed: store gone/);
    expectCleanEnd(effects);
  });

  it('needs attention when drones stay paused, and still releases the lock', async () => {
    const effects = new FakeEffects();
    effects.resumeOutcome = { incomplete: ['drone-3'] };
    const output = await run(effects);
    expect(output).toMatchObject({ result: 'needs_attention', attention: ['drone-3'] });
    expect(effects.calls.at(-1)).toBe('release:7');
  });

  it('needs attention when resuming throws, and still releases the lock', async () => {
    const effects = new FakeEffects();
    effects.resumeOutcome = new Error('network down');
    const output = await run(effects);
    expect(output.result).toBe('needs_attention');
    expect(effects.calls.at(-1)).toBe('release:7');
  });

  it('needs attention when targeted drones are not on the new config at the end', async () => {
    const effects = new FakeEffects();
    effects.verifyOutcome = { incomplete: ['drone-4'] };
    const output = await run(effects);
    expect(output).toMatchObject({ result: 'needs_attention', attention: ['drone-4'] });
    expect(effects.calls).not.toContain('rollback:7');
  });

  it('rolls back on operator.abort mid-bake and names who aborted', async () => {
    const effects = new FakeEffects();
    effects.holdBakes = true;
    const actor = start(effects, { steps: steps(['canary', 1]) });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'baking' } }));
    actor.send({ type: 'operator.abort', by: 'alice', reason: 'looks wrong' });
    const output = await toPromise(actor);
    expect(output).toMatchObject({ result: 'rolled_back', reason: 'aborted by alice: looks wrong' });
    expect(effects.calls.slice(-3)).toEqual(['rollback:7', 'resume', 'release:7']);
  });

  it('ends interrupted on operator.interrupt, after the same clean-up', async () => {
    const effects = new FakeEffects();
    effects.holdBakes = true;
    const actor = start(effects, { steps: steps(['canary', 1]) });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'baking' } }));
    actor.send({ type: 'operator.interrupt', signal: 'SIGINT' });
    actor.send({ type: 'operator.abort', by: 'bob' });
    const output = await toPromise(actor);
    expect(output).toMatchObject({ result: 'interrupted', reason: 'interrupted by SIGINT' });
    expectCleanEnd(effects);
  });

  it('interrupted before the lock: resumes, takes no lock', async () => {
    const effects = new FakeEffects();
    effects.acquireLock = () => {
      effects.calls.push('lock');
      return new Promise(() => undefined);
    };
    const actor = start(effects);
    await waitFor(actor, (s) => s.matches('acquiringLock'));
    actor.send({ type: 'operator.interrupt', signal: 'SIGTERM' });
    const output = await toPromise(actor);
    expect(output.result).toBe('interrupted');
    expect(effects.calls).toEqual(['pause', 'lock', 'resume']);
  });

  it('rolls back when the lease is lost, with the fence it still has', async () => {
    const effects = new FakeEffects();
    effects.holdBakes = true;
    const actor = start(effects, { steps: steps(['canary', 1]) });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'baking' } }));
    effects.leaseLost?.('reclaimed by host b');
    const output = await toPromise(actor);
    expect(output).toMatchObject({ result: 'rolled_back', reason: 'lease lost: reclaimed by host b' });
    expect(effects.calls.slice(-3)).toEqual(['rollback:7', 'resume', 'release:7']);
  });

  it('lost to another holder, sends no rollback write, releases nothing and needs attention with the drones it changed', async () => {
    const effects = new FakeEffects();
    effects.holdBakes = true;
    effects.rollbackOutcome = {
      incomplete: ['drone-1', 'drone-2'],
      notHeld: 'the config lock is now held by rollout other',
    };
    const actor = start(effects, { steps: steps(['canary', 1]) });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'baking' } }));
    effects.leaseLost?.('taken over');
    const output = await toPromise(actor);
    expect(output).toMatchObject({ result: 'needs_attention', attention: ['drone-1', 'drone-2'] });
    expect(output.reason).toBe('lease lost: taken over; the config lock is now held by rollout other');
    expect(effects.calls.slice(-2)).toEqual(['rollback:7', 'resume']);
    expect(effects.calls).not.toContain('release:7');
  });

  it('names drones that answered HOT to their rollback, next to the reason the rollout stopped', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['fail', 'fail'];
    effects.rollbackOutcome = {
      incomplete: ['drone-4'],
      hot: ['drone-4'],
      note: 'HOT lock mismatch during rollback on drone-4: left on the new config',
    };
    const output = await run(effects);
    expect(output).toMatchObject({ result: 'needs_attention', hot: ['drone-4'], attention: ['drone-4'] });
    expect(output.reason).toMatch(
      /^analysis failed in canary: .*; HOT lock mismatch during rollback on drone-4: left on the new config$/,
    );
    expectCleanEnd(effects);
  });

  it.each([
    ['invalid', { hot: [], abortReason: 'drone-1 answered 401', endsAs: 'invalid' as const }],
    [
      'needs_attention',
      { hot: [], abortReason: 'mixed fleet', endsAs: 'needs_attention' as const, attention: ['drone-2'] },
    ],
    ['promoted', { hot: [], abortReason: 'nothing to do', endsAs: 'promoted' as const }],
  ])('ends %s at pause as the pause stage says, without taking the lock or pushing', async (result, outcome) => {
    const effects = new FakeEffects();
    effects.pauseOutcome = outcome;
    const output = await run(effects);
    expect(output).toMatchObject({
      result,
      reason: outcome.abortReason,
      attention: 'attention' in outcome ? outcome.attention : [],
    });
    expect(effects.calls).toEqual(['pause', 'resume']);
  });

  it.each([
    [
      'needs_attention',
      { hot: [], abortReason: 'mixed fleet', endsAs: 'needs_attention' as const, attention: ['drone-2'] },
    ],
    ['promoted', { hot: [], abortReason: 'nothing to do', endsAs: 'promoted' as const }],
  ])(
    'ends %s when the fleet check under the lock says so: no push, fleet resumed, lock released',
    async (result, outcome) => {
      const effects = new FakeEffects();
      effects.checkOutcome = outcome;
      const output = await run(effects);
      expect(output).toMatchObject({ result, reason: outcome.abortReason });
      expect(effects.calls).toEqual(['pause', 'lock', 'lease:7', 'check', 'resume', 'release:7']);
      expectCleanEnd(effects);
    },
  );

  const gated = { gates: { preRollout: true, confirmPromotion: true } };

  it('asks the webhook gates before the first push and before each wave after the canary', async () => {
    const effects = new FakeEffects();
    const output = await run(effects, gated);
    expect(output.result).toBe('promoted');
    expect(effects.calls.filter((c) => c === 'gate' || /^(confirm|push):/.test(c))).toEqual([
      'gate',
      'push:0:7',
      'confirm:1',
      'push:1:7',
      'confirm:2',
      'push:2:7',
    ]);
  });

  it('ends unchanged when a pre-rollout webhook refuses: no push, no rollback, fleet resumed, lock released', async () => {
    const effects = new FakeEffects();
    effects.gateOutcome = { hot: [], abortReason: 'pre-rollout webhook smoke refused', endsAs: 'unchanged' };
    const output = await run(effects, gated);
    expect(output).toMatchObject({ result: 'unchanged', reason: 'pre-rollout webhook smoke refused' });
    expect(effects.calls).toEqual(['pause', 'lock', 'lease:7', 'check', 'gate', 'resume', 'release:7']);
    expectCleanEnd(effects);
  });

  it('rolls back when a confirm-promotion webhook never confirms a wave: nothing more is pushed', async () => {
    const effects = new FakeEffects();
    effects.confirmOutcomes.set(2, { hot: [], abortReason: 'webhook approve did not confirm wave 2' });
    const output = await run(effects, gated);
    expect(output).toMatchObject({ result: 'rolled_back', reason: 'webhook approve did not confirm wave 2' });
    expect(pushesAfter(effects, 'confirm:2')).toEqual([]);
    expect(effects.calls).toContain('rollback:7');
    expectCleanEnd(effects);
  });

  it('with trial configs, confirms each step once it has passed: before a manual gate, and before the final check', async () => {
    const effects = new FakeEffects();
    const actor = start(effects, { trials: true, steps: steps(['canary', 1, true], ['wave 1', 1], ['wave 2', 0]) });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'awaitingApproval' } }));
    // The canary is confirmed before the wait for a human, which may outlast its trial
    expect(effects.calls.filter((c) => /^(trial|push|analyse):/.test(c))).toEqual([
      'push:0:7',
      'analyse:0:0',
      'trial:0',
    ]);
    actor.send({ type: 'operator.promote', by: 'carol' });
    expect((await toPromise(actor)).result).toBe('promoted');
    expect(effects.calls.filter((c) => /^(trial|push):/.test(c) || c === 'verify')).toEqual([
      'push:0:7',
      'trial:0',
      'push:1:7',
      'trial:1',
      'push:2:7',
      'trial:2',
      'verify',
    ]);
  });

  it('rolls back when confirming a step meets a HOT drone: nothing more is pushed', async () => {
    const effects = new FakeEffects();
    effects.trialOutcomes.set(1, { hot: ['drone-5'] });
    const output = await run(effects, { trials: true });
    expect(output).toMatchObject({ result: 'aborted_hot', hot: ['drone-5'] });
    expect(pushesAfter(effects, 'trial:1')).toEqual([]);
    expect(effects.calls).toContain('rollback:7');
    expectCleanEnd(effects);
  });

  it('with an operational gate, pushes the held-back drones after the last step, then verifies', async () => {
    const effects = new FakeEffects();
    const output = await run(effects, { pushGate: true });
    expect(output.result).toBe('promoted');
    const calls = effects.calls;
    expect(calls.indexOf('pushDeferred:7')).toBeGreaterThan(calls.indexOf('analyse:2:0'));
    expect(calls.indexOf('verify')).toBeGreaterThan(calls.indexOf('pushDeferred:7'));
  });

  it('rolls back when the held-back drones time out under on_timeout: rollback', async () => {
    const effects = new FakeEffects();
    effects.deferredOutcome = { hot: [], abortReason: 'drone-4 still held back by gates.push_when after gates.wait' };
    const output = await run(effects, { pushGate: true });
    expect(output).toMatchObject({
      result: 'rolled_back',
      reason: 'drone-4 still held back by gates.push_when after gates.wait',
    });
    expect(effects.calls).not.toContain('verify');
    expect(effects.calls).toContain('rollback:7');
    expectCleanEnd(effects);
  });

  it('ends needs_attention naming the deferred drones apart from the others', async () => {
    const effects = new FakeEffects();
    effects.verifyOutcome = { incomplete: ['drone-2', 'drone-4'], deferred: ['drone-4'] };
    const output = await run(effects, { pushGate: true });
    expect(output.result).toBe('needs_attention');
    expect(output.reason).toBe(
      '1 targeted drone is not on the new config; 1 drone was held back by gates.push_when until gates.wait ran out (deferred: drone-4), still on the old config',
    );
    expect(output.attention).toEqual(['drone-2', 'drone-4']);
  });

  it('a rollout without an operational gate never waits for held-back drones', async () => {
    const effects = new FakeEffects();
    await run(effects);
    expect(effects.calls.filter((c) => c.startsWith('pushDeferred'))).toEqual([]);
  });

  it('a rollout without trial configs confirms nothing', async () => {
    const effects = new FakeEffects();
    await run(effects);
    expect(effects.calls.filter((c) => c.startsWith('trial:'))).toEqual([]);
  });

  it('a rollout without webhook gates never enters their states', async () => {
    const effects = new FakeEffects();
    await run(effects);
    expect(effects.calls.filter((c) => c === 'gate' || c.startsWith('confirm:'))).toEqual([]);
  });

  it('waits at a manual gate until operator.promote', async () => {
    const effects = new FakeEffects();
    const actor = start(effects, { steps: steps(['canary', 1, true], ['wave 1', 1]) });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'awaitingApproval' } }));
    expect(effects.calls.filter((c) => c.startsWith('push:'))).toEqual(['push:0:7']);
    actor.send({ type: 'operator.promote', by: 'carol' });
    expect((await toPromise(actor)).result).toBe('promoted');
    expect(effects.calls).toContain('push:1:7');
  });

  it('holds an inconclusive interval for a human when told to: promote counts it as a pass', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['inconclusive', 'inconclusive'];
    const actor = start(effects, { inconclusiveWaits: true, steps: steps(['canary', 2], ['wave 1', 1]) });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'awaitingJudgement' } }));
    expect(effects.calls.filter((c) => c.startsWith('analyse'))).toEqual(['analyse:0:0']);
    actor.send({ type: 'operator.promote', by: 'erin' });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'awaitingJudgement' } }) && s.context.interval === 1);
    actor.send({ type: 'operator.promote', by: 'erin' });
    expect((await toPromise(actor)).result).toBe('promoted');
    expect(effects.calls).toContain('push:1:7');
  });

  it('an inconclusive interval held for a human rolls back on abort', async () => {
    const effects = new FakeEffects();
    effects.verdicts = ['inconclusive'];
    const actor = start(effects, { inconclusiveWaits: true });
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'awaitingJudgement' } }));
    actor.send({ type: 'operator.abort', by: 'frank' });
    expect((await toPromise(actor)).result).toBe('rolled_back');
    expect(effects.calls.filter((c) => c.startsWith('push:'))).toEqual(['push:0:7']);
  });

  it('keeps a persisted snapshot that survives a JSON round trip and restores', async () => {
    const effects = new FakeEffects();
    effects.holdBakes = true;
    const machine = withEffects(effects);
    const actor = createActor(machine, { input: { ...input, steps: steps(['canary', 1]) } });
    actor.start();
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'baking' } }));
    const persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
    actor.stop();
    const restored = createActor(machine, { snapshot: persisted, input: { ...input, steps: steps(['canary', 1]) } });
    restored.start();
    expect(restored.getSnapshot().matches({ locked: { stages: 'baking' } })).toBe(true);
    expect(restored.getSnapshot().context.fence).toBe(7);
    restored.send({ type: 'operator.abort', by: 'dave' });
    expect((await toPromise(restored)).result).toBe('rolled_back');
  });

  it('finishes a clean-up it began: an abort or interrupt while resuming the fleet starts nothing again', async () => {
    const effects = new FakeEffects();
    let finishResume = (): void => undefined;
    effects.resumeFleet = () => {
      effects.calls.push('resume');
      return new Promise((resolve) => {
        finishResume = () => resolve({ incomplete: [] });
      });
    };
    const actor = start(effects);
    await waitFor(actor, (s) => s.matches('resumingFleet'));
    actor.send({ type: 'operator.abort', by: 'alice' });
    actor.send({ type: 'operator.interrupt', signal: 'SIGINT' });
    finishResume();
    expect((await toPromise(actor)).result).toBe('promoted');
    expect(effects.calls.slice(-2)).toEqual(['resume', 'release:7']);
    expect(effects.calls.filter((c) => c === 'resume')).toHaveLength(1);
  });

  it('names each stage from its state, with the step it is in', async () => {
    const effects = new FakeEffects();
    effects.holdBakes = true;
    const actor = start(effects, { steps: steps(['canary', 2, true]) });
    const labels: string[] = [];
    actor.subscribe((s) => labels.push(stageLabel(s)));
    await waitFor(actor, (s) => s.matches({ locked: { stages: 'baking' } }));
    actor.send({ type: 'operator.abort', by: 'alice' });
    await toPromise(actor);
    expect([...new Set(labels)]).toEqual([
      'taking the config lock',
      "checking the fleet's versions",
      'canary: pushing to 3 drones',
      'canary: baking 2 analysis intervals',
      'rolling back',
      'resuming the fleet',
      'releasing the config lock',
      'ended',
    ]);
  });

  it.each([
    ['analysing', 'before-effects-folder-analysing.json', 'promoted', ['lease:7', 'analyse:0:0', 'analyse:0:1']],
    [
      'rollingBack',
      'before-effects-folder-rolling-back.json',
      'aborted_hot',
      ['lease:7', 'rollback:7', 'resume', 'release:7'],
    ],
  ])(
    'resumes a snapshot an earlier version persisted in %s: its running effect is found again and finishes',
    async (_state, file, result, first) => {
      const persisted = JSON.parse(
        await readFile(join(import.meta.dirname, '..', 'fixtures', 'snapshots', file), 'utf8'),
      ) as Snapshot<unknown>;
      const effects = new FakeEffects();
      const restored = createActor(withEffects(effects), { snapshot: persisted, input });
      restored.start();
      expect((await toPromise(restored)).result).toBe(result);
      expect(effects.calls.slice(0, first.length)).toEqual(first);
      expectCleanEnd(effects);
    },
  );
});
