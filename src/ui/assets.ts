import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PAGE_CSS } from './page-style.js';

/** What the page loads: its script and style, and the charting library's (uPlot). */
export interface PageAssets {
  readonly pageJs: string;
  readonly pageCss: string;
  readonly chartJs: string;
  readonly chartCss: string;
}

const require = createRequire(import.meta.url);

// This module is src/ui/assets.ts or dist/ui/assets.js: either way the package root is two folders up.
const PAGE_SCRIPT = new URL('../../dist/ui/web/page.js', import.meta.url);

async function readPageScript(): Promise<string> {
  try {
    return await readFile(PAGE_SCRIPT, 'utf8');
  } catch (error) {
    throw new Error(
      `the page script ${fileURLToPath(PAGE_SCRIPT)} cannot be read (${error instanceof Error ? error.message : String(error)}): run \`npm run build\` in fleet-rollout's folder`,
      { cause: error },
    );
  }
}

let loaded: Promise<PageAssets> | undefined;

/**
 * Reads the page's assets once: the compiled page script (dist/ui/web/page.js, built from src/ui/web/page.ts)
 * and uPlot's browser build from node_modules. `rollout ui` serves them itself and a report inlines them,
 * so the page needs no network beyond the server it came from.
 */
export function pageAssets(): Promise<PageAssets> {
  loaded ??= (async () => {
    const [pageJs, chartJs, chartCss] = await Promise.all([
      readPageScript(),
      readFile(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    ]);
    return { pageJs, pageCss: PAGE_CSS, chartJs, chartCss };
  })();
  // A failed read is tried again next time (after `npm run build`), not remembered.
  loaded.catch(() => (loaded = undefined));
  return loaded;
}
