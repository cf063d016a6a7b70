import { z } from 'zod';
import { replayIntervals, type RecordedInterval } from '../../analysis/replay.js';
import { RolloutError } from '../../errors.js';
import { MAX_SPEC_BYTES } from '../../spec/limits.js';
import { readInputFile } from '../../spec/spec-files.js';
import { validateSpecText } from '../../spec/validate-spec.js';
import { count } from '../../wording.js';
import { openStateStore, printJson, type CommonOptions } from '../common.js';
import { mustGet } from './status.js';

export interface ReplayOptions extends CommonOptions {
  readonly id: string;
  /** Judge with this spec's `analysis` instead of the rollout's own. */
  readonly spec?: string;
}

const samples = z.record(z.string(), z.array(z.number()));
const judgementEvent = z.object({
  kind: z.literal('judgement'),
  step: z.string(),
  interval: z.number(),
  verdict: z.enum(['pass', 'fail', 'inconclusive']),
  samples: z.object({ canary: samples, baseline: samples, canaryDrones: z.record(z.string(), z.number()) }),
});

/**
 * `rollout replay <id> [--spec other.yaml]`: re-judges the telemetry a past rollout recorded with other
 * thresholds and prints what each interval's verdict would have been, so a team can tune its judge on
 * real history before trusting it in CI.
 */
export async function replayCommand(options: ReplayOptions): Promise<number> {
  const store = await openStateStore(options);
  try {
    const record = await mustGet(store, options.id);
    const specPath = options.spec ?? record.specPath;
    const read = await readInputFile(specPath, { what: 'a spec', limit: MAX_SPEC_BYTES });
    if ('problem' in read) throw new RolloutError('E_USAGE', `${read.problem}: give the spec to judge with as --spec`);
    const text = read.bytes.toString('utf8');
    const { analysis } = validateSpecText(text, specPath);
    const recorded: RecordedInterval[] = [];
    for (const event of await store.readAudit(record.id)) {
      const parsed = judgementEvent.safeParse(event);
      if (parsed.success) recorded.push(parsed.data);
    }
    if (recorded.length === 0) {
      throw new RolloutError(
        'E_USAGE',
        `rollout ${record.id} recorded no analysis interval (no bake ran, or it ended before one): there is nothing to replay`,
      );
    }
    const result = replayIntervals(recorded, analysis);
    if (options.output === 'json') {
      printJson({ id: record.id, spec: specPath, result: record.result, ...result });
      return 0;
    }
    const lines = [
      `replaying ${count(recorded.length, 'analysis interval')} of ${record.id} (${record.result ?? 'running'}) with the analysis of ${specPath}`,
    ];
    for (const i of result.intervals) {
      const changed = i.replayed === i.recorded ? '' : `  (was ${i.recorded})`;
      lines.push(`  ${i.step} interval ${i.interval}: ${i.replayed}${changed}: ${i.summary}`);
    }
    lines.push(
      result.rollbackAt === null
        ? 'with these thresholds the judge would not have rolled back on these intervals'
        : `with these thresholds it would have rolled back at ${result.rollbackAt.step} interval ${result.rollbackAt.interval}: ${result.rollbackAt.why}`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
