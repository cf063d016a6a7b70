import { appendFile } from 'node:fs/promises';
import { markdownReport } from '../report/markdown.js';
import { loadRolloutView } from '../report/rollout-view.js';
import type { StateStore } from '../store/types.js';
import { livenessOf } from './liveness.js';

/**
 * On GitHub Actions ($GITHUB_STEP_SUMMARY set), appends the rollout's Markdown report to the job's
 * summary. The rollout has ended by then: a summary that cannot be written is a warning, never a
 * change to its exit code.
 */
export async function appendStepSummary(
  store: StateStore,
  id: string,
  warn: (text: string) => void,
  path: string | undefined = process.env.GITHUB_STEP_SUMMARY,
): Promise<void> {
  if (path === undefined || path === '') return;
  try {
    const view = await loadRolloutView(store, id, { livenessOf: (record) => livenessOf(record, Date.now()) });
    if (view === null) return;
    await appendFile(path, `${markdownReport(view)}\n`);
  } catch (error) {
    warn(
      `the job summary ($GITHUB_STEP_SUMMARY=${path}) could not be written: ${error instanceof Error ? error.message : String(error)}; the rollout's result stands, \`rollout report ${id} --format md\` prints it`,
    );
  }
}
