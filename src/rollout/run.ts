import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, toPromise, type SnapshotFrom } from 'xstate';
import { stageLabel, stageOf } from './stage.js';
import { DroneClient } from '../fleet/drone-client.js';
import type { DroneTls } from '../fleet/drone-tls.js';
import type { Lease, LockStore } from '../lock/types.js';
import { withEffects } from './machine.js';
import type { RolloutOutput, StageKind, StepSchedule, VerdictRecord } from './machine-types.js';
import type { Plan } from '../spec/types.js';
import type { RolloutObserver, RolloutRuntime } from './context.js';
import { createRolloutEffects } from './effects/index.js';
import { Ledger } from './ledger.js';
import { RolloutRecorder } from './recorder.js';
import { HoldRenewal } from './hold-renewal.js';
import { RolloutSignals, sentNotificationKeys } from './signals.js';
import type { DroneProgressRecord, RolloutOwner, RolloutRecord, StateStore } from '../store/types.js';
import { buildReport, EXIT_CODES, type RolloutReport } from './report.js';

export interface RunRolloutOptions {
  readonly plan: Plan;
  readonly locks: LockStore;
  readonly store: StateStore;
  /** Who runs it: this host and process, and the user; the rollout id is added for the lock. */
  readonly owner: RolloutOwner;
  readonly logger: Logger;
  readonly observer: RolloutObserver;
  /** sha256 of the spec's text, kept in the record so `resume` can tell a changed spec. */
  readonly specDigest: string;
  /** Bearer token for the drones' agents. */
  readonly token?: string;
  /** For `https://` drones: the CA to trust and our client certificate (loadDroneTls). */
  readonly tls?: DroneTls;
  readonly now?: () => number;
  readonly rolloutId?: string;
  /** Continues a rollout an earlier process started, from its persisted snapshot. */
  readonly resume?: ResumePoint;
  /** How often to look for `rollout abort` / `rollout promote` from other shells. @default 500 */
  readonly commandPollMs?: number;
}

/** What a resumed rollout starts from. */
export interface ResumePoint {
  /** The machine's persisted snapshot (JSON), or null if the process died before writing one. */
  readonly snapshot: unknown;
  /** The lease re-taken for this rollout (a larger fence), or null if the snapshot held none. */
  readonly lease: Lease | null;
  /**
   * False when another rollout held the lock at resume: `lease` is then the old fence, kept only so the
   * machine can find it lost, and nothing may be written with it.
   */
  readonly leaseTaken: boolean;
  readonly progress: Readonly<Record<string, DroneProgressRecord>>;
}

export interface RunningRollout {
  readonly id: string;
  readonly done: Promise<RolloutReport>;
  abort(by: string, reason?: string): void;
  interrupt(signal: string): void;
  promote(by: string): void;
}

/** How often a running rollout's record says it is alive. */
const HEARTBEAT_MS = 2_000;
/** How often buffered audit events and progress are written during a stage. */
const FLUSH_MS = 1_000;

export function newRolloutId(name: string): string {
  return `${name}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
}

/** The machine's steps: bake split into analysis intervals, the canary gated when approval is manual. */
export function scheduleOf(plan: Plan): StepSchedule[] {
  const { analysis, canary } = plan.spec;
  return plan.steps.map((step) => ({
    name: step.name,
    droneCount: step.drones.length,
    intervals: step.bakeMs === 0 ? 0 : Math.max(1, Math.round(step.bakeMs / analysis.intervalMs)),
    intervalDelayMs: Math.min(analysis.intervalMs, step.bakeMs),
    approval: step.kind === 'canary' && canary.approval === 'manual',
  }));
}

/**
 * Notifications of the machine's transitions, one key per transition so a resumed rollout does not tell
 * them again: a step passed (it moves on to the next step, a human's approval or the final check), and
 * the rollout waits for a human.
 */
function notifyTransition(
  signals: RolloutSignals,
  kind: StageKind | null,
  context: {
    readonly stepIndex: number;
    readonly interval: number;
    readonly steps: readonly StepSchedule[];
    readonly rolloutId: string;
    readonly verdicts: readonly VerdictRecord[];
  },
): void {
  const { stepIndex, interval, rolloutId } = context;
  const step = context.steps[stepIndex]?.name ?? null;
  if (
    kind === 'confirmingPromotion' ||
    kind === 'awaitingApproval' ||
    kind === 'pushingDeferred' ||
    kind === 'verifying'
  ) {
    signals.notify(`step_passed:${stepIndex}`, 'step_passed', {
      step,
      reason: context.verdicts.at(-1)?.summary ?? 'no analysis',
    });
  }
  if (kind === 'awaitingApproval') {
    signals.notify(`waiting:${stepIndex}:approval`, 'waiting', {
      step,
      reason: `${step ?? 'the step'} passed; waiting for \`rollout promote ${rolloutId}\``,
    });
  }
  if (kind === 'awaitingJudgement') {
    signals.notify(`waiting:${stepIndex}:${interval}`, 'waiting', {
      step,
      reason: `the verdict was inconclusive: \`rollout promote ${rolloutId}\` or \`rollout abort ${rolloutId}\``,
    });
  }
}

/** A rollout that stopped before any push could have landed rolled nothing back: it left the fleet unchanged. */
function withoutEmptyRollback(output: RolloutOutput, ledger: Ledger): RolloutOutput {
  if (output.result !== 'rolled_back' || ledger.ids((p) => p.pushSent || p.rolledBack).length > 0) return output;
  return {
    ...output,
    result: 'unchanged',
    reason: `${output.reason}; no drone took the new config, so nothing was rolled back`,
  };
}

function recordOf(options: RunRolloutOptions, id: string, started: number): RolloutRecord {
  const { plan } = options;
  return {
    id,
    name: plan.spec.name,
    specPath: plan.specPath,
    specDigest: options.specDigest,
    inventory: plan.spec.fleet.inventory,
    ...(plan.canarySeed === undefined ? {} : { canarySeed: plan.canarySeed }),
    config: { file: plan.config.file, version: plan.config.version, sha256: plan.config.sha256 },
    owner: options.owner,
    drones: plan.drones.length,
    stage: 'starting',
    step: { index: 0, name: plan.steps[0]?.name ?? 'canary', total: plan.steps.length },
    updated: started,
    result: null,
    reason: '',
    started,
    ended: null,
    heartbeat: started,
  };
}

/**
 * Starts one rollout (or resumes one from its snapshot); `done` settles with the report once the fleet
 * is resumed, the lock released and the record's result written.
 */
export async function runRollout(options: RunRolloutOptions): Promise<RunningRollout> {
  const { plan, store } = options;
  const id = options.rolloutId ?? newRolloutId(plan.spec.name);
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ rollout: id });
  const started = now();
  if (options.resume) {
    await store.updateRollout(id, { owner: options.owner, heartbeat: started, updated: started });
  } else {
    await store.createRollout(recordOf(options, id, started));
  }
  const client = new DroneClient({
    timeoutMs: plan.spec.push.timeoutMs,
    retries: plan.spec.push.retries,
    maxSockets: plan.spec.push.concurrency,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const ledger = new Ledger();
  if (options.resume) ledger.load(options.resume.progress);
  const recorder = new RolloutRecorder({ store, id, ledger, logger, now });
  const signals = new RolloutSignals({
    rolloutId: id,
    plan,
    ledger,
    recorder,
    logger,
    alreadySent: options.resume ? sentNotificationKeys(await store.readAudit(id)) : [],
  });
  const runtime: RolloutRuntime = {
    rolloutId: id,
    plan,
    client,
    ledger,
    recorder,
    signals,
    logger,
    observer: options.observer,
    now,
    drones: new Map(plan.drones.map((d) => [d.id, d])),
    configSeq: new Map(),
  };
  const { host, pid, bootId } = options.owner;
  const effects = createRolloutEffects(
    runtime,
    options.locks,
    { host, pid, bootId, rollout: id },
    options.resume ? { lease: options.resume.lease, taken: options.resume.leaseTaken } : null,
  );
  const machine = withEffects(effects);
  const input = {
    rolloutId: id,
    steps: scheduleOf(plan),
    failureLimit: plan.spec.analysis.failureLimit,
    inconclusiveWaits: plan.spec.analysis.inconclusive === 'wait',
    gates: {
      preRollout: plan.spec.webhooks.some((hook) => hook.type === 'pre-rollout'),
      confirmPromotion: plan.spec.webhooks.some((hook) => hook.type === 'confirm-promotion'),
    },
    trials: plan.spec.push.confirmWithinMs !== undefined,
    pushGate: plan.spec.gates !== undefined,
  };
  const restored = options.resume?.snapshot;
  const actor =
    restored === undefined || restored === null
      ? createActor(machine, { input })
      : createActor(machine, { input, snapshot: restored as SnapshotFrom<typeof machine> });
  recorder.audit(options.resume ? 'resumed' : 'started', {
    by: `${options.owner.user}@${host}`,
    pid,
    drones: plan.drones.length,
    version: plan.config.version,
    ...(plan.canarySeed === undefined ? {} : { canarySeed: plan.canarySeed }),
  });
  // On disk before anything can happen: a rollout killed at once still has an audit log that says it began.
  await recorder.flush();
  signals.notify('started', 'started', { step: null, reason: `${plan.config.file} → ${plan.config.version}` });

  // Renewals must not wait out a slow drone's push timeout and retries: their own client, one short try.
  const renewalClient = new DroneClient({
    timeoutMs: Math.min(plan.spec.push.timeoutMs, Math.max(1_000, Math.floor(plan.spec.pause.holdMs / 6))),
    retries: 0,
    maxSockets: plan.spec.push.concurrency,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const renewal = new HoldRenewal(runtime, renewalClient);
  let lastStage = '';
  let rolledBack = false;
  let lastVerdict: VerdictRecord | undefined;
  actor.subscribe((snapshot) => {
    const { verdicts, steps, stepIndex } = snapshot.context;
    const latest = verdicts.at(-1);
    if (latest !== lastVerdict && latest) {
      lastVerdict = latest;
      recorder.audit('verdict', { ...latest });
      // The verdict's own step: the machine may already have moved on to the next one.
      options.observer.verdict(latest, steps.find((step) => step.name === latest.step)?.intervals ?? 0);
    }
    const stage = stageLabel(snapshot);
    const step = steps[stepIndex];
    renewal.stage(snapshot.status === 'done' ? null : stageOf(snapshot));
    if (snapshot.status !== 'done') {
      const kind = stageOf(snapshot);
      if (kind === 'rollingBack') rolledBack = true;
      notifyTransition(signals, kind, snapshot.context);
    }
    recorder.transition(
      actor.getPersistedSnapshot(),
      { stage, step: { index: stepIndex, name: step?.name ?? '', total: steps.length } },
      { to: stage, value: snapshot.value },
    );
    if (stage === lastStage || snapshot.status === 'done') return;
    lastStage = stage;
    // Memory as each stage starts: where a large rollout's memory goes, for `--log-level info` and the bench.
    const { rss, heapUsed } = process.memoryUsage();
    logger.info({ stage, rssMb: Math.round(rss / 2 ** 20), heapUsedMb: Math.round(heapUsed / 2 ** 20) }, 'stage');
    options.observer.stage(stage);
  });

  const commands = setInterval(() => {
    store.takeCommands(id).then(
      (taken) => {
        for (const command of taken) {
          recorder.audit('operator', { ...command });
          logger.warn({ command }, `operator command: ${command.type} by ${command.by}`);
          if (command.type === 'abort')
            actor.send({
              type: 'operator.abort',
              by: command.by,
              ...(command.reason ? { reason: command.reason } : {}),
            });
          else actor.send({ type: 'operator.promote', by: command.by });
        }
      },
      (error: unknown) => logger.error({ err: error }, 'reading operator commands failed'),
    );
  }, options.commandPollMs ?? 500);
  const heartbeat = setInterval(() => recorder.update({ heartbeat: now() }), HEARTBEAT_MS);
  // A long stage (10,000 pushes) shows its progress in the store while it runs, not only at its end.
  const flusher = setInterval(() => void recorder.flushOrLog('writing the rollout state failed'), FLUSH_MS);

  renewal.start();
  actor.start();
  if (options.resume) {
    // Holds lapsed while no process renewed them: the resumed rollout holds its drones again at once,
    // beside the machine (whose lease keeper is running by now).
    renewal.stage(stageOf(actor.getSnapshot()));
    void renewal.renew();
  }
  const done = toPromise(actor)
    .then(async (output) => {
      await renewal.stop();
      const ended = now();
      const decided = buildReport({ id, plan, ledger, output: withoutEmptyRollback(output, ledger), started, ended });
      recorder.audit('ended', {
        result: decided.result,
        reason: decided.reason,
        hot: decided.hot,
        attention: decided.attention,
      });
      recorder.update({ result: decided.result, reason: decided.reason, ended, stage: 'ended' });
      // The fleet's end state is decided and reached; a store that cannot record it does not change it,
      // but the rollout's record and audit log have a gap a human must know of.
      await recorder.flushOrLog(`the rollout ended ${decided.result}, but the state store did not record it`);
      // Told once the fleet is resumed and the lock released; nothing said or answered changes the result.
      const told = await signals.end(decided, rolledBack || ledger.ids((p) => p.rolledBack).length > 0);
      await recorder.flushOrLog('recording the notifications and webhooks of the end failed');
      logger.info({ storeWrites: recorder.writeTimes }, 'state store writes');
      const report = { ...decided, ...told };
      const failure = recorder.failure;
      if (failure === null) return report;
      return {
        ...report,
        result: 'needs_attention' as const,
        exitCode: EXIT_CODES.needs_attention,
        reason:
          `${report.reason}; the state store could not be written (${failure.message}), so its record and audit log of this ` +
          `rollout are incomplete: the drones are as this report says (${report.result} before the store failed); free space or fix the store`,
      };
    })
    .finally(async () => {
      clearInterval(commands);
      clearInterval(heartbeat);
      clearInterval(flusher);
      await renewal.stop();
      renewalClient.close();
      client.close();
    });
  return {
    id,
    done,
    abort: (by, reason) =>
      actor.send(reason === undefined ? { type: 'operator.abort', by } : { type: 'operator.abort', by, reason }),
    interrupt: (signal) => actor.send({ type: 'operator.interrupt', signal }),
    promote: (by) => actor.send({ type: 'operator.promote', by }),
  };
}
