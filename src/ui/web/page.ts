/// <reference types="uplot" />
/*
 * The rollout page in the browser: the list of rollouts, one rollout live, or a saved report. It renders
 * the JSON views `rollout ui` builds (report/rollout-view.ts), from server-sent events or, in a report,
 * from the view embedded in the file. Text from the store (drone ids, errors) only ever becomes text
 * nodes, never markup. A script, not a module, so that a report can inline it and open offline.
 */

interface PageSummary {
  readonly id: string;
  readonly name: string;
  readonly stage: string;
  readonly result: string | null;
  readonly exitCode: number | null;
  readonly liveness: 'running' | 'ended' | 'gone';
  readonly by: string;
  readonly started: number;
  readonly ended: number | null;
  readonly drones: number;
  readonly config: { readonly file: string; readonly version: string };
}

interface PagePoint {
  readonly step: string;
  readonly interval: number;
  readonly verdict: string;
  readonly canaryMedian: number | null;
  readonly baselineMedian: number | null;
  readonly pValue: number | null;
  readonly upper: number | null;
  readonly lower: number | null;
  readonly detail: string;
}

interface PageView {
  readonly summary: PageSummary;
  readonly reason: string;
  readonly resumeCommand: string | null;
  readonly hot: readonly string[];
  readonly timeline: readonly { key: string; label: string; state: string; started: number | null }[];
  readonly drones: readonly { id: string; state: string; version: string | null; error: string | null }[];
  readonly unseenDrones: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly metrics: readonly { metric: string; points: readonly PagePoint[] }[];
  readonly events: readonly { t: number; kind: string; [field: string]: unknown }[];
  readonly eventCount: number;
}

type Child = Node | string | null;

function el(tag: string, attrs: Readonly<Record<string, string>> = {}, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

function time(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toLocaleString();
}

function num(value: number | null): string {
  if (value === null) return '–';
  return Math.abs(value) >= 100 ? value.toFixed(1) : String(Number(value.toPrecision(4)));
}

function statusText(s: PageSummary): string {
  if (s.result !== null) return `${s.result} (exit ${String(s.exitCode)})`;
  return s.liveness === 'gone' ? 'gone' : `running: ${s.stage}`;
}

function statusClass(s: PageSummary): string {
  if (s.liveness === 'gone') return 'gone';
  if (s.result === null) return 'running';
  return s.result === 'promoted' ? 'good' : s.result === 'unchanged' ? 'neutral' : 'bad';
}

function renderList(rollouts: readonly PageSummary[]): HTMLElement {
  if (rollouts.length === 0) return el('p', { class: 'empty' }, 'No rollouts in the state store yet.');
  const rows = rollouts.map((s) =>
    el(
      'tr',
      { 'data-id': s.id, class: statusClass(s) },
      el('td', {}, el('a', { href: `/rollouts/${encodeURIComponent(s.id)}` }, s.name)),
      el('td', { class: 'mono' }, s.id),
      el('td', {}, el('span', { class: `badge ${statusClass(s)}` }, statusText(s))),
      el('td', {}, `${s.config.file} → ${s.config.version}`),
      el('td', {}, String(s.drones)),
      el('td', {}, s.by),
      el('td', {}, time(s.started)),
    ),
  );
  const head = el(
    'tr',
    {},
    ...['rollout', 'id', 'stage or result', 'config', 'drones', 'who', 'started'].map((h) => el('th', {}, h)),
  );
  return el('table', { class: 'rollouts' }, el('thead', {}, head), el('tbody', {}, ...rows));
}

function renderTimeline(view: PageView): HTMLElement {
  return el(
    'ol',
    { class: 'timeline' },
    ...view.timeline.map((stage) =>
      el(
        'li',
        {
          class: stage.state,
          'data-stage': stage.key,
          title: `${stage.state}${stage.started === null ? '' : `, from ${time(stage.started)}`}`,
        },
        stage.label,
      ),
    ),
  );
}

function renderGrid(view: PageView): HTMLElement {
  const legend = el(
    'ul',
    { class: 'legend' },
    ...Object.entries(view.counts)
      .filter(([, n]) => n > 0)
      .map(([state, n]) =>
        el('li', { class: `cell-${state}`, 'data-count': state }, `${state.replace('_', ' ')} ${n}`),
      ),
  );
  const cells = view.drones.map((d) =>
    el('span', {
      class: `drone cell-${d.state}`,
      'data-drone': d.id,
      'data-state': d.state,
      title: `${d.id} · ${d.state} · ${d.version ?? 'version unknown'}${d.error === null ? '' : ` · ${d.error}`}`,
    }),
  );
  const unseen = Array.from({ length: Math.min(view.unseenDrones, 5000) }, () =>
    el('span', { class: 'drone cell-pending', title: 'not reached yet' }),
  );
  return el('div', {}, legend, el('div', { class: 'grid' }, ...cells, ...unseen));
}

function pointLabel(p: PagePoint): string {
  return `${p.step} #${p.interval}`;
}

/** The charts on the page: uPlot keeps each one in a list of its own until it is destroyed. */
let charts: uPlot[] = [];

function renderChart(metric: { metric: string; points: readonly PagePoint[] }, into: HTMLElement): void {
  const xs = metric.points.map((_, i) => i + 1);
  const data: uPlot.AlignedData = [
    xs,
    metric.points.map((p) => p.canaryMedian),
    metric.points.map((p) => p.baselineMedian),
    metric.points.map((p) => p.upper),
    metric.points.map((p) => p.lower),
  ];
  const width = Math.max(320, Math.min(720, into.clientWidth || 640));
  const chart = new uPlot(
    {
      width,
      height: 220,
      scales: { x: { time: false, range: [0.5, xs.length + 0.5] } },
      legend: { live: false },
      axes: [
        {
          values: (_u, splits) =>
            splits.map((v) => {
              const point = metric.points[v - 1];
              return Number.isInteger(v) && point ? pointLabel(point) : '';
            }),
        },
        {},
      ],
      series: [
        { label: 'interval' },
        { label: 'canary median', stroke: '#d9480f', width: 2, points: { show: true, size: 6 } },
        { label: 'baseline median', stroke: '#1c7ed6', width: 2, points: { show: true, size: 6 } },
        { label: 'upper limit', stroke: '#868e96', dash: [6, 4] },
        { label: 'lower limit', stroke: '#868e96', dash: [2, 4] },
      ],
    },
    data,
    into,
  );
  charts.push(chart);
}

function renderMetrics(view: PageView): HTMLElement {
  if (view.metrics.length === 0) return el('p', { class: 'empty' }, 'No analysis interval judged yet.');
  return el(
    'div',
    { class: 'metrics' },
    ...view.metrics.map((metric) => {
      const chart = el('div', { class: 'chart', 'data-metric': metric.metric });
      const rows = metric.points.map((p) =>
        el(
          'tr',
          { class: `verdict-${p.verdict}` },
          el('td', {}, pointLabel(p)),
          el('td', { class: 'verdict' }, p.verdict),
          el('td', {}, num(p.canaryMedian)),
          el('td', {}, num(p.baselineMedian)),
          el('td', {}, p.pValue === null ? '–' : p.pValue.toPrecision(2)),
          el('td', {}, p.detail),
        ),
      );
      const table = el(
        'table',
        { class: 'verdicts' },
        el('tr', {}, ...['interval', 'verdict', 'canary', 'baseline', 'p-value', 'why'].map((h) => el('th', {}, h))),
        ...rows,
      );
      return el('section', { class: 'metric' }, el('h3', {}, metric.metric), chart, table);
    }),
  );
}

/** An audit event's own fields, without the time, kind and chain links shown or kept elsewhere. */
function eventText(event: PageView['events'][number]): string {
  const shown = Object.entries(event).filter(([key]) => !['t', 'kind', 'seq', 'prev'].includes(key));
  return JSON.stringify(Object.fromEntries(shown));
}

function renderEvents(view: PageView): HTMLElement {
  const items = view.events.map((e) =>
    el('li', {}, el('span', { class: 'when' }, time(e.t)), el('b', {}, e.kind), ' ', eventText(e)),
  );
  const more = view.eventCount - view.events.length;
  return el(
    'div',
    {},
    el('ol', { class: 'events' }, ...items),
    more > 0 ? el('p', { class: 'empty' }, `… ${more} older events: rollout audit export ${view.summary.id}`) : null,
  );
}

/** What the server answered to the last button pressed; kept across redraws (each update redraws the page). */
let actionAnswer = '';

function renderActions(view: PageView): HTMLElement | null {
  if (document.body.dataset.actions !== 'true' || view.summary.liveness !== 'running') return null;
  const tell = (text: string) => {
    actionAnswer = text;
    const shown = document.querySelector('.action-result');
    if (shown) shown.textContent = text;
  };
  const act = (type: 'abort' | 'promote') => async () => {
    const question =
      type === 'abort'
        ? `Abort ${view.summary.id}? It rolls back every drone it updated.`
        : `Promote ${view.summary.id} past its gate?`;
    if (!window.confirm(question)) return;
    try {
      const answer = await fetch(`/api/rollouts/${encodeURIComponent(view.summary.id)}/${type}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'from rollout ui' }),
      });
      const body = (await answer.json()) as { message?: string };
      tell(body.message ?? `${type}: HTTP ${String(answer.status)}`);
    } catch (error) {
      tell(`${type} was not sent: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const button = (type: 'abort' | 'promote', text: string) => {
    const b = el('button', { type: 'button', 'data-action': type }, text);
    b.addEventListener('click', () => void act(type)());
    return b;
  };
  return el(
    'div',
    { class: 'actions' },
    button('promote', 'Promote'),
    button('abort', 'Abort'),
    el('span', { class: 'action-result' }, actionAnswer),
  );
}

function renderRollout(view: PageView): HTMLElement {
  const s = view.summary;
  const banners: Child[] = [];
  if (view.hot.length > 0) {
    const told = view.drones.filter((d) => d.state === 'hot' && d.error !== null);
    banners.push(
      el(
        'div',
        { class: 'banner hot', 'data-hot': view.hot.join(',') },
        el('strong', {}, `HOT lock mismatch on ${view.hot.join(', ')}`),
        ...told.map((d) => el('div', {}, `${d.id}: ${d.error ?? ''}`)),
        view.reason === `HOT lock mismatch on ${view.hot.join(', ')}` ? null : el('div', {}, view.reason),
      ),
    );
  } else if (view.reason !== '') banners.push(el('div', { class: `banner ${statusClass(s)}` }, view.reason));
  if (view.resumeCommand !== null)
    banners.push(
      el(
        'div',
        { class: 'banner gone' },
        `gone: its process is no longer running at "${s.stage}". `,
        el('code', {}, view.resumeCommand),
        ' continues it (add --rollback to roll it back).',
      ),
    );
  return el(
    'div',
    {},
    el(
      'header',
      {},
      el('a', { href: '/', class: 'back' }, 'all rollouts'),
      el('h1', {}, s.name),
      el('span', { class: `badge ${statusClass(s)}`, id: 'status' }, statusText(s)),
      el(
        'p',
        { class: 'meta' },
        `${s.id} · ${s.config.file} → ${s.config.version} · ${String(s.drones)} drones · ${s.by} · ${time(s.started)}`,
      ),
    ),
    ...banners,
    renderActions(view),
    el('h2', {}, 'Stages'),
    renderTimeline(view),
    el('h2', {}, 'Drones'),
    renderGrid(view),
    el('h2', {}, 'Analysis'),
    renderMetrics(view),
    el('h2', {}, 'Audit log, newest first'),
    renderEvents(view),
  );
}

function show(content: HTMLElement): void {
  const main = document.getElementById('main');
  if (!main) return;
  const scroll = window.scrollY;
  main.replaceChildren(content);
  window.scrollTo(0, scroll);
}

function showRollout(view: PageView): void {
  for (const chart of charts) chart.destroy();
  charts = [];
  show(renderRollout(view));
  for (const metric of view.metrics) {
    const into = document.querySelector<HTMLElement>(`.chart[data-metric="${CSS.escape(metric.metric)}"]`);
    if (into && metric.points.length > 0) renderChart(metric, into);
  }
  document.title = `${view.summary.name}: ${statusText(view.summary)}`;
}

/**
 * Follows a server-sent event stream. The browser reconnects by itself after a dropped connection; after
 * an error answer it gives up, so then the page opens a new stream itself, a few seconds later.
 */
function follow(url: string, render: (data: string) => void): void {
  const connection = document.getElementById('connection');
  const source = new EventSource(url);
  source.addEventListener('message', (event: MessageEvent<string>) => {
    if (connection) connection.textContent = 'live';
    render(event.data);
  });
  source.addEventListener('store-error', (event: MessageEvent<string>) => {
    const { message } = JSON.parse(event.data) as { message: string };
    if (connection) connection.textContent = `the state store could not be read: ${message}`;
  });
  source.addEventListener('error', () => {
    if (connection) connection.textContent = 'disconnected from rollout ui: retrying';
    if (source.readyState === EventSource.CLOSED) setTimeout(() => follow(url, render), 3000);
  });
}

function start(): void {
  const { mode, id } = document.body.dataset;
  if (mode === 'report') {
    const data = document.getElementById('rollout-view')?.textContent ?? 'null';
    showRollout(JSON.parse(data) as PageView);
  } else if (mode === 'rollout' && id !== undefined) {
    follow(`/api/rollouts/${encodeURIComponent(id)}/events`, (data) => {
      const view = JSON.parse(data) as PageView | null;
      if (view === null) show(el('p', { class: 'empty' }, `Rollout ${id} is no longer in the state store.`));
      else showRollout(view);
    });
  } else {
    follow('/api/rollouts/events', (data) => show(renderList(JSON.parse(data) as PageSummary[])));
  }
}

start();
