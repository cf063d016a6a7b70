import type { PageAssets } from './assets.js';

/** `list` and `rollout` follow the server live; `report` renders the view embedded in the file. */
export type PageMode = 'list' | 'rollout' | 'report';

export interface PageShellOptions {
  readonly title: string;
  readonly mode: PageMode;
  /** The rollout shown (`rollout` and `report`). */
  readonly id?: string;
  /** Show promote and abort buttons (`rollout ui --allow-actions`). */
  readonly allowActions?: boolean;
  /** A report: every asset inlined and the view embedded, so the file opens with no network at all. */
  readonly inline?: { readonly assets: PageAssets; readonly view: unknown };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Inline script text that cannot close its own element early. */
function scriptText(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

/** JSON for a `<script type="application/json">`: no `<` at all, so no `</script>` or `<!--` inside. */
function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/**
 * The HTML document of every page: the list, a rollout, a report. The page script draws the content;
 * served pages load the assets from `rollout ui`, a report carries them inside, with a policy that
 * forbids every request.
 */
export function pageHtml(options: PageShellOptions): string {
  const body = [
    `data-mode="${options.mode}"`,
    options.id === undefined ? '' : `data-id="${escapeHtml(options.id)}"`,
    options.allowActions === true ? 'data-actions="true"' : '',
  ]
    .filter(Boolean)
    .join(' ');
  const { inline } = options;
  const head =
    inline === undefined
      ? [
          `<meta http-equiv="Content-Security-Policy" content="default-src 'self'; style-src 'self' 'unsafe-inline'">`,
          '<link rel="stylesheet" href="/assets/uPlot.min.css">',
          '<link rel="stylesheet" href="/assets/page.css">',
        ]
      : [
          `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">`,
          `<style>${inline.assets.chartCss}</style>`,
          `<style>${inline.assets.pageCss}</style>`,
        ];
  const scripts =
    inline === undefined
      ? ['<script src="/assets/uPlot.iife.min.js"></script>', '<script src="/assets/page.js"></script>']
      : [
          `<script type="application/json" id="rollout-view">${jsonText(inline.view)}</script>`,
          `<script>${scriptText(inline.assets.chartJs)}</script>`,
          `<script>${scriptText(inline.assets.pageJs)}</script>`,
        ];
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    ...head,
    `<title>${escapeHtml(options.title)}</title>`,
    '</head>',
    `<body ${body}>`,
    inline === undefined ? '<div id="connection">connecting…</div>' : '',
    '<div id="main"></div>',
    ...scripts,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
