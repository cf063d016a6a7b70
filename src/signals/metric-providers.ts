import type { SamplePool } from '../analysis/sample-pool.js';
import type { MetricProvider, Plan } from '../spec/types.js';
import { checkQuery, queryRange, renderQuery, type PrometheusProvider, type QueryFailure } from './prometheus.js';

/** A metric read from a provider: its name, its provider and its query (one per name: the spec says so). */
export interface ProviderMetric {
  readonly name: string;
  readonly provider: MetricProvider;
  readonly query: string;
}

/** The spec's provider as the Prometheus client takes it. */
export function prometheusOf(provider: MetricProvider): PrometheusProvider {
  const auth = {
    ...(provider.basicAuth === undefined ? {} : { basic: provider.basicAuth }),
    ...(provider.bearerTokenFile === undefined ? {} : { bearerTokenFile: provider.bearerTokenFile }),
  };
  return {
    name: provider.name,
    url: provider.url,
    timeoutMs: provider.timeoutMs,
    ...(Object.keys(auth).length === 0 ? {} : { auth }),
  };
}

/** The spec's provider metrics, one per name. */
export function providerMetrics(plan: Plan): ProviderMetric[] {
  const byName = new Map<string, ProviderMetric>();
  for (const metric of plan.spec.analysis.metrics) {
    const provider = metric.provider === undefined ? undefined : plan.spec.providers[metric.provider];
    if (provider === undefined || metric.query === undefined || byName.has(metric.name)) continue;
    byName.set(metric.name, { name: metric.name, provider, query: metric.query });
  }
  return [...byName.values()];
}

/**
 * Reads every provider metric for one group of drones over `[startMs, endMs]`: one range query per
 * metric for the whole group, split by the `drone` label, each drone's points pooled as its samples
 * into `pool`. A provider that is down, a query error or no series leaves the metric without data (its
 * `nodata` policy decides); the answer says why, per metric, naming the provider and the query.
 */
export async function readProviderMetrics(
  metrics: readonly ProviderMetric[],
  ids: readonly string[],
  window: { readonly startMs: number; readonly endMs: number },
  pool: SamplePool,
  signal: AbortSignal,
): Promise<Map<string, string>> {
  const errors = new Map<string, string>();
  if (ids.length === 0) return errors;
  const group = new Set(ids);
  await Promise.all(
    metrics.map(async ({ name, provider, query }) => {
      const rendered = renderQuery(query, ids);
      const result = await queryRange(
        prometheusOf(provider),
        rendered,
        // From a step after the window opens: a point there may be a scrape from just before it.
        {
          startMs: Math.min(window.startMs + provider.stepMs, window.endMs),
          endMs: window.endMs,
          stepMs: provider.stepMs,
        },
        signal,
      );
      if (!result.ok) {
        errors.set(name, result.error);
        return;
      }
      let added = 0;
      for (const [drone, values] of result.byDrone) {
        // A query may match more than it was asked for (a label rewritten, a regex widened by hand).
        if (!group.has(drone)) continue;
        added += pool.addValues(name, values);
      }
      if (added === 0) {
        errors.set(
          name,
          `provider ${provider.name} found no series of the ${ids.length} drones asked for: ${rendered.slice(0, 300)}`,
        );
      }
    }),
  );
  return errors;
}

/** A query `rollout plan` found wrong (rejected: exit 2) or could not check (a warning). */
export interface QueryCheck {
  readonly index: number;
  readonly metric: string;
  readonly failure: QueryFailure;
}

/** Runs every provider query once, as an instant query over `ids`, for `rollout plan`. */
export async function checkProviderQueries(plan: Plan, ids: readonly string[]): Promise<QueryCheck[]> {
  const checks = await Promise.all(
    plan.spec.analysis.metrics.map(async (metric, index): Promise<QueryCheck | undefined> => {
      const provider = metric.provider === undefined ? undefined : plan.spec.providers[metric.provider];
      if (provider === undefined || metric.query === undefined || ids.length === 0) return undefined;
      const result = await checkQuery(prometheusOf(provider), renderQuery(metric.query, ids));
      return result.ok ? undefined : { index, metric: metric.name, failure: result };
    }),
  );
  return checks.filter((check): check is QueryCheck => check !== undefined);
}
