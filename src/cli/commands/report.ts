import { resolve } from 'node:path';
import { RolloutError } from '../../errors.js';
import { writeFileAtomic } from '../../infra/atomic-write.js';
import { htmlReport } from '../../report/html.js';
import { jsonReport } from '../../report/json-record.js';
import { markdownReport } from '../../report/markdown.js';
import { buildRolloutView, readRollout } from '../../report/rollout-view.js';
import { openStateStore, storeFlags, type CommonOptions } from '../common.js';
import { livenessOf } from '../liveness.js';

export interface ReportOptions extends CommonOptions {
  readonly id: string;
  /** @default md */
  readonly format?: 'html' | 'md';
  /** Write the report to this file instead of stdout. */
  readonly out?: string;
}

/**
 * `rollout report <id>`: a Markdown summary (`--format md`), one self-contained HTML file (`--format
 * html`), or with `--output json` the full per-interval record; of a rollout that ended or still runs.
 */
export async function reportCommand(options: ReportOptions): Promise<number> {
  if (options.output === 'json' && options.format !== undefined)
    throw new RolloutError(
      'E_USAGE',
      `--output json prints the JSON record; --format ${options.format} writes a document: give one of them`,
    );
  const store = await openStateStore(options);
  try {
    const stored = await readRollout(store, options.id);
    if (stored === null)
      throw new RolloutError(
        'E_ROLLOUT_NOT_FOUND',
        `no rollout ${options.id} in the state store; \`rollout history\` lists them (is --state-dir right?)`,
      );
    const view = buildRolloutView({
      ...stored,
      liveness: livenessOf(stored.record, Date.now()),
      storeFlags: storeFlags(options),
      eventLimit: Number.MAX_SAFE_INTEGER,
    });
    const text =
      options.output === 'json'
        ? `${JSON.stringify(jsonReport(view, stored.audit), null, options.out === undefined ? 0 : 2)}\n`
        : options.format === 'html'
          ? await htmlReport(view)
          : markdownReport(view);
    if (options.out === undefined) {
      process.stdout.write(text);
      return 0;
    }
    const path = resolve(options.out);
    await writeFileAtomic(path, text).catch((error: unknown) => {
      throw new RolloutError(
        'E_USAGE',
        `cannot write the report to ${path} (${error instanceof Error ? error.message : String(error)}): check that its folder exists and is writable`,
        { cause: error },
      );
    });
    process.stderr.write(`report of ${options.id} written to ${path}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
