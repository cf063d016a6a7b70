import { RolloutError } from '../../errors.js';
import { openStateStore, operatorName, printJson, type CommonOptions } from '../common.js';
import { livenessOf } from '../liveness.js';
import { mustGet } from './status.js';

export interface OperatorOptions extends CommonOptions {
  readonly id: string;
  readonly reason?: string;
}

/** Stage labels (`stageLabel` in rollout/stage.ts) of a rollout waiting for a human: a manual gate, an inconclusive verdict. */
const AWAITING_HUMAN = /^waiting for (`rollout promote\b|a human)/;

async function send(type: 'abort' | 'promote', options: OperatorOptions): Promise<number> {
  const store = await openStateStore(options);
  try {
    const record = await mustGet(store, options.id);
    if (record.result !== null) {
      throw new RolloutError(
        'E_USAGE',
        `rollout ${record.id} already ended (${record.result}); there is nothing to ${type}`,
      );
    }
    if (livenessOf(record, Date.now()) === 'gone') {
      throw new RolloutError(
        'E_USAGE',
        `rollout ${record.id} is not running (its process is gone at "${record.stage}"): \`rollout resume ${record.id}${type === 'abort' ? ' --rollback' : ''}\` takes it over`,
      );
    }
    if (type === 'promote' && !AWAITING_HUMAN.test(record.stage)) {
      throw new RolloutError(
        'E_USAGE',
        `rollout ${record.id} is not waiting for approval (stage: ${record.stage}); promote passes a \`canary.approval: manual\` gate or an inconclusive verdict held by \`analysis.inconclusive: wait\``,
      );
    }
    const by = operatorName();
    await store.sendCommand(record.id, {
      type,
      by,
      at: Date.now(),
      ...(options.reason === undefined ? {} : { reason: options.reason }),
    });
    if (options.output === 'json') printJson({ id: record.id, command: type, by });
    else
      process.stdout.write(
        `${type} sent to ${record.id} by ${by}; the rollout acts on it within a second (\`rollout status ${record.id} --watch\` follows it)\n`,
      );
    return 0;
  } finally {
    await store.close();
  }
}

/** `rollout abort <id>`: the running rollout rolls back, resumes the fleet, releases its lock, exits 1. */
export function abortCommand(options: OperatorOptions): Promise<number> {
  return send('abort', options);
}

/** `rollout promote <id>`: passes a `canary.approval: manual` gate. */
export function promoteCommand(options: OperatorOptions): Promise<number> {
  return send('promote', options);
}
