import { formatDuration } from '../../lock/describe.js';
import { EXIT_CODES } from '../../rollout/report.js';
import type { AuditEvent, RolloutRecord, StateStore } from '../../store/types.js';
import { RolloutError } from '../../errors.js';
import { count } from '../../wording.js';
import { isLiveTerminal, openStateStore, printJson, type CommonOptions } from '../common.js';
import { livenessOf, type Liveness } from '../liveness.js';

export interface StatusOptions extends CommonOptions {
  readonly id?: string;
  readonly watch: boolean;
  /** How often `--watch` reads the store. @default 1000 */
  readonly intervalMs?: number;
}

interface RolloutStatus {
  readonly record: RolloutRecord;
  readonly liveness: Liveness;
  readonly drones: Readonly<
    Record<string, { readonly version: string | null; readonly paused: boolean; readonly error: string | null }>
  >;
  readonly versions: Readonly<Record<string, number>>;
  readonly verdicts: readonly AuditEvent[];
}

async function mustGet(store: StateStore, id: string): Promise<RolloutRecord> {
  const record = await store.getRollout(id);
  if (!record)
    throw new RolloutError(
      'E_ROLLOUT_NOT_FOUND',
      `no rollout ${id} in the state store; \`rollout history\` lists them (is --state-dir right?)`,
    );
  return record;
}

async function statusOf(store: StateStore, record: RolloutRecord): Promise<RolloutStatus> {
  const [progress, audit] = await Promise.all([store.loadProgress(record.id), store.readAudit(record.id)]);
  const drones: Record<string, { version: string | null; paused: boolean; error: string | null }> = {};
  const versions: Record<string, number> = {};
  for (const [id, p] of Object.entries(progress)) {
    const version = p.now?.version ?? p.before?.version ?? null;
    drones[id] = { version, paused: p.pauseSent, error: p.lastError };
    if (version !== null) versions[version] = (versions[version] ?? 0) + 1;
  }
  const verdicts = audit.filter((e) => e.kind === 'verdict').slice(-5);
  return { record, liveness: livenessOf(record, Date.now()), drones, versions, verdicts };
}

function describeStatus(status: RolloutStatus): string {
  const { record, liveness } = status;
  const now = Date.now();
  const state =
    record.result !== null
      ? `${record.result} (exit ${EXIT_CODES[record.result]})`
      : liveness === 'running'
        ? `running: ${record.stage}`
        : `gone at "${record.stage}": its process is no longer running; \`rollout resume ${record.id}\` continues it (add --rollback to roll it back)`;
  const lines = [
    `${record.id}  ${record.name}`,
    `  state:    ${state}`,
    `  step:     ${record.step.name} (${record.step.index + 1} of ${record.step.total}); ${count(record.drones, 'targeted drone')}`,
    `  config:   ${record.config.file} → ${record.config.version}`,
    `  versions: ${
      Object.entries(status.versions)
        .map(([v, n]) => `${v} ×${n}`)
        .join(', ') || 'none known yet'
    }`,
    `  owner:    ${record.owner.user}@${record.owner.host} pid ${record.owner.pid}${liveness === 'ended' ? '' : `, heartbeat ${formatDuration(now - record.heartbeat)} ago`}`,
    `  started:  ${new Date(record.started).toISOString()}${record.ended ? `, ended ${new Date(record.ended).toISOString()}` : ''}`,
  ];
  if (record.reason) lines.push(`  reason:   ${record.reason}`);
  const paused = Object.entries(status.drones).filter(([, d]) => d.paused).length;
  if (paused > 0 && liveness !== 'running')
    lines.push(
      `  paused:   ${paused === 1 ? '1 drone still holds' : `${paused} drones still hold`} this rollout's pause`,
    );
  for (const v of status.verdicts)
    lines.push(
      `  verdict:  ${String(v.step)} interval ${String(v.interval)}: ${String(v.verdict)} (${String(v.summary)})`,
    );
  return lines.join('\n');
}

function statusJson(status: RolloutStatus) {
  return {
    ...status.record,
    liveness: status.liveness,
    drones: status.drones,
    versions: status.versions,
    verdicts: status.verdicts,
  };
}

/**
 * What a change is: the heartbeat and `updated` move every couple of seconds while nothing happens, so
 * they are left out; a log or a pipe then gets a block per stage, step, version, verdict or result.
 */
function changeOf(status: RolloutStatus): string {
  const { record } = status;
  return JSON.stringify([
    status.liveness,
    record.stage,
    record.step,
    record.result,
    record.reason,
    record.ended,
    status.drones,
    status.verdicts,
  ]);
}

async function watch(store: StateStore, id: string, options: StatusOptions): Promise<number> {
  // A terminal redraws in place, so the heartbeat's age may tick there; elsewhere every block stays.
  const live = options.output === 'text' && isLiveTerminal(process.stdout);
  let last = '';
  for (;;) {
    const status = await statusOf(store, await mustGet(store, id));
    const text = options.output === 'json' ? JSON.stringify(statusJson(status)) : describeStatus(status);
    const change = live ? text : changeOf(status);
    if (change !== last) {
      if (live) process.stdout.write('\x1b[H\x1b[2J');
      process.stdout.write(`${text}\n`);
      last = change;
    }
    if (status.liveness !== 'running') return status.record.result === null ? 1 : EXIT_CODES[status.record.result];
    await new Promise((done) => setTimeout(done, options.intervalMs ?? 1000));
  }
}

/** `rollout status [id]`: one rollout in detail, or every rollout that has not ended and the latest one. */
export async function statusCommand(options: StatusOptions): Promise<number> {
  const store = await openStateStore(options);
  try {
    if (options.id !== undefined) {
      if (options.watch) return await watch(store, options.id, options);
      const status = await statusOf(store, await mustGet(store, options.id));
      if (options.output === 'json') printJson(statusJson(status));
      else process.stdout.write(`${describeStatus(status)}\n`);
      return 0;
    }
    if (options.watch)
      throw new RolloutError('E_USAGE', '--watch follows one rollout: give its id (`rollout history` lists them)');
    const all = await store.listRollouts();
    const shown = all.filter((r, i) => r.result === null || i === 0);
    const statuses = await Promise.all(shown.map((r) => statusOf(store, r)));
    if (options.output === 'json') printJson(statuses.map(statusJson));
    else
      process.stdout.write(
        statuses.length === 0 ? 'no rollouts in the state store\n' : `${statuses.map(describeStatus).join('\n\n')}\n`,
      );
    return 0;
  } finally {
    await store.close();
  }
}

export { mustGet };
