import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  copyInto,
  ROOT,
  runCli,
  shippedConfig,
  startCli,
  startSimProcess,
  tempDir,
  type SimProcess,
} from '../helpers/cli.js';
import { Children, FILE, fleetHealth, lockTable, within } from '../helpers/fleet.js';
import { HAVE_CHROMIUM, launchBrowser, startUiProcess, type UiProcess } from '../helpers/ui.js';

/**
 * `rollout ui` and `rollout report` driven in headless Chromium, as a release engineer would: the page
 * follows a rollout that runs on the simulator through the real CLI. Skipped where Debian's chromium is
 * not installed (.ci/run installs it).
 */
describe.skipIf(!HAVE_CHROMIUM)('rollout ui and its reports in a real browser', () => {
  const children = new Children();
  let browser: Browser;
  let page: Page;
  let state: { path: string; remove(): Promise<void> };
  let sim: SimProcess | undefined;
  let ui: UiProcess | undefined;

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser.close();
  });
  beforeEach(async () => {
    state = await tempDir('rollout-ui-');
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  });
  afterEach(async () => {
    await page.close();
    await children.reap();
    await ui?.stop();
    await sim?.stop();
    ui = undefined;
    sim = undefined;
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  const cli = (...args: string[]) => runCli([...args, '--state-dir', state.path]);
  const start = (...args: string[]) => children.track(startCli([...args, '--state-dir', state.path]));

  /** Opens the list, waits for the rollout a run just started to appear in it, and follows its link. */
  async function openNewRollout(): Promise<string> {
    const row = page.locator('table.rollouts tbody tr').first();
    await row.waitFor({ timeout: 15_000 });
    const id = (await row.getAttribute('data-id')) ?? '';
    await row.locator('a').click();
    await page.waitForURL(`**/rollouts/${id}`);
    return id;
  }

  const droneCount = (state: string) => page.locator(`.grid .drone[data-state="${state}"]`).count();

  it('shows a running rollout live, shows it gone when its process dies, and promotes it from the page', async () => {
    sim = await startSimProcess(['--drones', '12']);
    ui = await startUiProcess(['--state-dir', state.path, '--allow-actions']);
    const spec = join(state.path, 'gated.yaml');
    await writeFile(
      spec,
      [
        'name: gated',
        `config: { file: ${FILE}, source: ${await shippedConfig(state.path)} }`,
        `fleet: { inventory: ${await copyInto(state.path, sim.inventory)} }`,
        'canary: { drones: 3, bake: 1s, approval: manual }',
        'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
        'waves: [{ percent: 100, bake: 0s }]',
      ].join('\n'),
    );
    await page.goto(`${ui.url}/`);
    await expect.poll(() => page.locator('#connection').textContent(), { timeout: 10_000 }).toBe('live');
    const run = start('run', spec, '--output', 'json');
    const id = await openNewRollout();

    // Given the canary passed and waits for approval: its 3 drones updated, the other 9 still paused.
    await page.locator('#status', { hasText: 'waiting for `rollout promote' }).waitFor({ timeout: 15_000 });
    await expect.poll(() => droneCount('updated'), { timeout: 5_000 }).toBe(3);
    expect(await droneCount('paused')).toBe(9);
    expect(await page.locator('.timeline li.current').getAttribute('data-stage')).toBe('canary');
    expect(await page.locator('.chart[data-metric="heart_rate"] canvas').count()).toBe(1);

    // When its process dies, the page says so and how to take it over.
    run.child.kill('SIGKILL');
    const gone = page.locator('.banner.gone');
    await gone.waitFor({ timeout: 10_000 });
    expect(await gone.textContent()).toContain(`rollout resume ${id} --state-dir ${state.path}`);
    expect(await page.locator('#status').textContent()).toBe('gone');

    // Then resumed, it waits again; the page's Promote button passes the gate and the fleet is promoted.
    const resumed = start('resume', id, '--output', 'json');
    // The record still says the killed run's stage until the resumed run's own transition to the gate is
    // written (its audit event first, then the record, in one batch): wait for both.
    await expect
      .poll(
        async () => {
          const events = (await readFile(join(state.path, 'rollouts', id, 'audit.ndjson'), 'utf8'))
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as { kind: string; to?: string });
          const resumedAt = events.findIndex((e) => e.kind === 'resumed');
          return (
            resumedAt >= 0 && events.slice(resumedAt).some((e) => e.to?.startsWith('waiting for `rollout promote'))
          );
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBe(true);
    await page.locator('#status', { hasText: 'running: waiting for `rollout promote' }).waitFor({ timeout: 10_000 });
    page.once('dialog', (dialog) => void dialog.accept());
    const answered = page.waitForResponse((response) => response.url().endsWith(`/api/rollouts/${id}/promote`));
    await page.locator('button[data-action="promote"]').click();
    expect((await answered).status()).toBe(202);
    await page.locator('#status', { hasText: 'promoted (exit 0)' }).waitFor({ timeout: 20_000 });
    expect((await within(resumed.done, 20_000, 'rollout resume')).code).toBe(0);
    await expect.poll(() => droneCount('updated'), { timeout: 5_000 }).toBe(12);
    const health = await fleetHealth(sim, 12);
    expect(Object.values(health).every((d) => d.state === 'active' && d.configs[FILE]?.version !== 'v42')).toBe(true);
    const audit = await readFile(join(state.path, 'rollouts', id, 'audit.ndjson'), 'utf8');
    expect(audit).toMatch(/"kind":"operator","type":"promote","by":"[^"]+ \(rollout ui\)"/);
  });

  it('shows the HOT drone of an aborted rollout, and its HTML report opens offline', async () => {
    sim = await startSimProcess(['--drones', '20', '--hot-on-push', 'drone-7']);
    ui = await startUiProcess(['--state-dir', state.path]);
    await page.goto(`${ui.url}/`);
    await expect.poll(() => page.locator('#connection').textContent(), { timeout: 10_000 }).toBe('live');
    const run = start('run', join(ROOT, 'rollouts', 'aim-sensitivity-hot.yaml'), '--inventory', sim.inventory);
    const id = await openNewRollout();

    await page.locator('#status', { hasText: 'aborted_hot (exit 4)' }).waitFor({ timeout: 30_000 });
    expect((await run.done).code).toBe(4);
    const banner = page.locator('.banner.hot');
    expect(await banner.getAttribute('data-hot')).toBe('drone-7');
    expect(await banner.textContent()).toContain('drone-7: lock mismatch: aim_lock_config.conf HOT');
    expect(await page.locator('.drone[data-drone="drone-7"]').getAttribute('data-state')).toBe('hot');
    await expect.poll(() => droneCount('rolled_back'), { timeout: 5_000 }).toBe(9);
    expect(await droneCount('unchanged')).toBe(10);
    expect(await page.locator('.timeline li.failed').getAttribute('data-stage')).toBe('wave 1');
    expect(await page.locator('button[data-action]').count()).toBe(0);
    if (process.env.UPDATE_SCREENSHOTS === '1') await page.screenshot({ path: join(ROOT, 'docs', 'ui-hot-abort.png') });

    // The report, opened from disk with every request refused: it must need none.
    const file = join(state.path, 'report.html');
    expect((await cli('report', id, '--format', 'html', '--out', file)).code).toBe(0);
    const offline = await browser.newContext({ offline: true });
    const requests: string[] = [];
    offline.on('request', (request) => requests.push(request.url()));
    await offline.route(/^(?!file:)/, (route) => route.abort());
    const report = await offline.newPage();
    await report.goto(pathToFileURL(file).href);
    await report.locator('.banner.hot', { hasText: 'HOT lock mismatch on drone-7' }).waitFor();
    expect(await report.locator('.drone[data-state="hot"]').count()).toBe(1);
    expect(await report.locator('.chart canvas').count()).toBe(2);
    expect(await report.locator('#status').textContent()).toBe('aborted_hot (exit 4)');
    expect(requests).toEqual([pathToFileURL(file).href]);
    await offline.close();
  });
});
