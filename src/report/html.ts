import { pageAssets } from '../ui/assets.js';
import { pageHtml } from '../ui/page-shell.js';
import type { RolloutView } from './rollout-view.js';

/**
 * One self-contained HTML file of a rollout, for a change ticket: the page `rollout ui` shows (stages,
 * drones, charts, audit log), drawn from the view inside the file, with the chart library and the styles
 * inlined and a content policy that forbids every request, so it opens the same offline.
 */
export async function htmlReport(view: RolloutView): Promise<string> {
  const title = `${view.summary.name}: ${view.summary.result ?? view.summary.stage}`;
  return pageHtml({ title, mode: 'report', id: view.summary.id, inline: { assets: await pageAssets(), view } });
}
