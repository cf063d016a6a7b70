import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/** A Prometheus on loopback, with a temp config and data dir and a random port, scraping the given targets. */
export interface PrometheusServer {
  /** Its base URL, e.g. `http://127.0.0.1:40123`, as a provider's `url`. */
  readonly url: string;
  readonly pid: number;
  readonly port: number;
  /** SIGTERM by pid, SIGKILL after a grace; then removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Polls an instant query until it finds at least `count` series; rejects (with the targets' health) after `timeoutMs`. */
  waitForSeries(query: string, count: number, timeoutMs: number): Promise<void>;
}

export interface PrometheusOptions {
  /** `host:port` of each target. */
  readonly targets: readonly string[];
  /** @default 1000 */
  readonly scrapeIntervalMs?: number;
  /** @default '/metrics' */
  readonly metricsPath?: string;
  /** Sent to the targets as `Authorization: Bearer <its content>`. */
  readonly bearerTokenFile?: string;
}

const BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const INSTALL = 'install Prometheus to run them: `apt-get install prometheus` (Debian) or set PROMETHEUS_BIN';
const READY_WITHIN_MS = 20_000;
const STOP_GRACE_MS = 5_000;

/** Whether the Prometheus binary is there. In CI the Prometheus suites must run, so its absence fails there. */
export function prometheusAvailable(): boolean {
  const found = existsSync(BIN);
  if (!found && process.env.CI)
    throw new Error(`CI must run the Prometheus suites but there is no ${BIN}: ${INSTALL} (.ci/run does)`);
  if (!found) console.log(`Prometheus suites skipped: no ${BIN}; ${INSTALL}`);
  return found;
}

/**
 * Starts Prometheus and resolves once `/-/ready` answers 200. The scrape timeout equals the interval
 * (Prometheus refuses a config whose timeout is longer). `--query.lookback-delta` is 5 scrape
 * intervals, not 5 minutes: at each step a query takes the latest sample within the lookback, so with
 * the default a series that stopped being scraped would repeat its last value for 5 minutes of a
 * short window; with 5 s it drops out after a few missed scrapes, as a test of a short window needs.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const intervalMs = options.scrapeIntervalMs ?? 1000;
  const dir = await mkdtemp(join(tmpdir(), 'fleet-prometheus-'));
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    const config = join(dir, 'prometheus.yml');
    await writeFile(config, configYaml(options, intervalMs));
    child = spawn(
      BIN,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--query.lookback-delta=${5 * intervalMs}ms`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const { pid } = child;
    if (pid === undefined) throw new Error(`${BIN} did not start`);
    const url = `http://127.0.0.1:${port}`;
    await ready(url, child, () => stderr);
    const running = child;
    let stopping: Promise<void> | undefined;
    return {
      url,
      pid,
      port,
      stop: () => {
        stopping ??= (async () => {
          await stopByPid(running, pid);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
      waitForSeries: (query, count, timeoutMs) => waitForSeries(url, query, count, timeoutMs),
    };
  } catch (error) {
    if (child?.pid !== undefined) await stopByPid(child, child.pid);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function configYaml(options: PrometheusOptions, intervalMs: number): string {
  const interval = `${intervalMs}ms`;
  // JSON is YAML: every value is quoted as it must be, whatever a path holds.
  return JSON.stringify({
    global: { scrape_interval: interval, scrape_timeout: interval },
    scrape_configs: [
      {
        job_name: 'fleet',
        metrics_path: options.metricsPath ?? '/metrics',
        ...(options.bearerTokenFile === undefined
          ? {}
          : { authorization: { type: 'Bearer', credentials_file: options.bearerTokenFile } }),
        static_configs: [{ targets: options.targets }],
      },
    ],
  });
}

async function ready(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`prometheus exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${stderr()}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`prometheus at ${url} was not ready within ${READY_WITHIN_MS} ms:\n${stderr()}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

async function stopByPid(child: ChildProcess, pid: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  process.kill(pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'late'>((done) => {
    timer = setTimeout(() => done('late'), STOP_GRACE_MS);
  });
  if ((await Promise.race([exited, grace])) === 'late') {
    process.kill(pid, 'SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

async function waitForSeries(url: string, query: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let found = 0;
  for (;;) {
    try {
      const answer = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as {
        data?: { result?: unknown[] };
      };
      found = answer.data?.result?.length ?? 0;
      if (found >= count) return;
    } catch {
      // Prometheus is between answers; try again
    }
    if (Date.now() > deadline) {
      throw new Error(
        `prometheus at ${url} found ${found} series of ${query} within ${timeoutMs} ms, not ${count}; targets: ${await targets(url)}`,
      );
    }
    await new Promise((done) => setTimeout(done, 200));
  }
}

/** The scrape targets' health and last error, to tell why no series came. */
async function targets(url: string): Promise<string> {
  try {
    const answer = (await (await fetch(`${url}/api/v1/targets`)).json()) as {
      data?: { activeTargets?: { scrapeUrl: string; health: string; lastError: string }[] };
    };
    return JSON.stringify(
      (answer.data?.activeTargets ?? []).map(({ scrapeUrl, health, lastError }) => ({ scrapeUrl, health, lastError })),
    );
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message : String(error)})`;
  }
}
