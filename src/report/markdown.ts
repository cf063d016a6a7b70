import { count } from '../wording.js';
import type { DroneViewState } from './drone-states.js';
import type { RolloutView } from './rollout-view.js';

const STATE_WORDS: Readonly<Record<DroneViewState, string>> = {
  pending: 'pending',
  paused: 'paused',
  deferred: 'held back by the operational gate',
  pushed: 'pushed',
  updated: 'updated',
  rolled_back: 'rolled back',
  unchanged: 'unchanged',
  failed: 'failed',
  hot: 'HOT',
};

/**
 * Text from the store and the drones inside Markdown: a pipe or a line break would end its table cell or
 * row, and brackets, angle brackets, backticks and stars would make links, images, HTML or code of it in
 * a job summary. (Underscores stay: GitHub reads none inside a word as emphasis.)
 */
function cell(text: string): string {
  return text.replace(/[\\`*[\]<>!|]/g, '\\$&').replace(/\r?\n/g, ' ');
}

function iso(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString();
}

function seconds(from: number | null, to: number | null): string {
  return from === null || to === null ? '' : `${((to - from) / 1000).toFixed(1)} s`;
}

function fixed(value: number | null): string {
  if (value === null) return '–';
  return Math.abs(value) >= 100 ? value.toFixed(1) : Number(value.toPrecision(4)).toString();
}

function headline(view: RolloutView): string {
  const { summary } = view;
  if (summary.result !== null) return `${summary.result} (exit ${summary.exitCode ?? ''})`;
  return summary.liveness === 'gone' ? `gone at "${summary.stage}"` : `running: ${summary.stage}`;
}

/**
 * The Markdown report of a rollout: its result, the HOT drone, the drones by state, the verdict table and
 * the timeline. What `rollout report --format md` prints and `rollout run` appends to $GITHUB_STEP_SUMMARY.
 */
export function markdownReport(view: RolloutView): string {
  const { summary } = view;
  const lines = [
    `## ${cell(summary.name)}: ${headline(view)}`,
    '',
    `Rollout \`${summary.id}\`: \`${summary.config.file}\` → \`${summary.config.version}\` on ${count(summary.drones, 'drone')}, started by ${cell(summary.by)} at ${iso(summary.started)}${summary.ended === null ? '' : `, ended after ${seconds(summary.started, summary.ended)}`}.`,
    '',
  ];
  if (view.hot.length > 0) lines.push(`**HOT lock mismatch on ${view.hot.join(', ')}**`, '');
  if (view.reason !== '') lines.push(`Reason: ${cell(view.reason)}`, '');
  if (view.resumeCommand !== null)
    lines.push(`Its process is gone: \`${view.resumeCommand}\` continues it (add \`--rollback\` to roll it back).`, '');
  const states = Object.entries(view.counts)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${STATE_WORDS[state as DroneViewState]} ${n}`);
  lines.push(`Drones: ${states.length === 0 ? 'none known yet' : states.join(', ')}.`, '');
  const troubled = view.drones.filter((d) => d.state === 'failed' || d.state === 'hot');
  if (troubled.length > 0) {
    lines.push('| drone | state | version | last error |', '|---|---|---|---|');
    for (const d of troubled.slice(0, 50))
      lines.push(`| ${cell(d.id)} | ${STATE_WORDS[d.state]} | ${cell(d.version ?? '')} | ${cell(d.error ?? '')} |`);
    if (troubled.length > 50) lines.push(`| … ${troubled.length - 50} more | | | |`);
    lines.push('');
  }
  lines.push('### Verdicts', '');
  if (view.intervals.length === 0) lines.push('No analysis interval was judged.', '');
  else {
    lines.push(
      '| step | interval | verdict | score | metrics (canary median vs baseline, p-value) |',
      '|---|---|---|---|---|',
    );
    for (const record of view.intervals) {
      const metrics = record.metrics
        .map(
          (m) =>
            `${m.metric} ${m.verdict}: ${fixed(m.canaryMedian)} vs ${fixed(m.baselineMedian)}${m.pValue === null ? '' : `, p=${m.pValue.toPrecision(2)}`}`,
        )
        .join('; ');
      lines.push(
        `| ${cell(record.step)} | ${record.interval} | ${record.verdict} | ${record.score === null ? '–' : String(record.score)} | ${cell(metrics)} |`,
      );
    }
    lines.push('');
  }
  lines.push('### Timeline', '', '| stage | state | started | took |', '|---|---|---|---|');
  for (const stage of view.timeline)
    lines.push(
      `| ${cell(stage.label)} | ${stage.state} | ${iso(stage.started)} | ${seconds(stage.started, stage.ended)} |`,
    );
  return `${lines.join('\n')}\n`;
}
