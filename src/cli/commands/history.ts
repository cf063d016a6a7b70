import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { StateStore } from '../../store/types.js';
import { openStateStore, printJson, type CommonOptions } from '../common.js';
import { livenessOf } from '../liveness.js';
import { selectPrunable, type PruneRule } from '../prune.js';
import { count } from '../../wording.js';

export interface HistoryOptions extends CommonOptions {
  /** Remove ended rollouts instead of listing: older than an age, or all but the newest N. */
  readonly prune?: PruneRule;
}

/** One rollout as `history` lists it; `--output json` prints an array of these. */
interface HistoryRow {
  readonly id: string;
  readonly name: string;
  /** The stage while it runs, `ended`, or `gone`. */
  readonly state: string;
  readonly result: string | null;
  readonly started: string;
  readonly ended: string | null;
}

function formatRows(rows: readonly HistoryRow[]): string {
  const cells = rows.map((r) => [r.id, r.name, r.state, r.result ?? '-', r.started, r.ended ?? '-']);
  const header = ['ID', 'NAME', 'STATE', 'RESULT', 'STARTED', 'ENDED'];
  const table = [header, ...cells];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c]?.length ?? 0)));
  return table
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Removes what the rule selects, with each rollout's log file in this machine's state dir. */
async function prune(store: StateStore, rule: PruneRule, options: HistoryOptions): Promise<number> {
  const doomed = selectPrunable(await store.listRollouts(), rule, Date.now());
  const removed: string[] = [];
  for (const record of doomed) {
    if (await store.removeRollout(record.id)) removed.push(record.id);
    await rm(join(resolve(options.stateDir), 'logs', `${record.id}.ndjson`), { force: true });
  }
  if (options.output === 'json') {
    printJson(removed);
    return 0;
  }
  const lines = doomed
    .filter((record) => removed.includes(record.id))
    .map((record) => `removed ${record.id} (${record.result}, ended ${new Date(record.ended).toISOString()})`);
  lines.push(removed.length === 0 ? 'nothing to prune' : `pruned ${count(removed.length, 'rollout')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `rollout history`: every rollout, newest first, running ones included; `--prune` removes old ones. */
export async function historyCommand(options: HistoryOptions): Promise<number> {
  const store = await openStateStore(options);
  try {
    if (options.prune !== undefined) return await prune(store, options.prune, options);
    const now = Date.now();
    const rows = (await store.listRollouts()).map((r): HistoryRow => {
      const liveness = livenessOf(r, now);
      return {
        id: r.id,
        name: r.name,
        state: liveness === 'running' ? r.stage : liveness,
        result: r.result,
        started: new Date(r.started).toISOString(),
        ended: r.ended === null ? null : new Date(r.ended).toISOString(),
      };
    });
    if (options.output === 'json') printJson(rows);
    else process.stdout.write(rows.length === 0 ? 'no rollouts in the state store\n' : `${formatRows(rows)}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
