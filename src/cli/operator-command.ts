import { RolloutError } from '../errors.js';
import type { OperatorCommand, StateStore } from '../store/types.js';
import { mustGet } from './commands/status.js';
import { livenessOf } from './liveness.js';

/** Stage labels (`stageLabel` in rollout/stage.ts) of a rollout waiting for a human: a manual gate, an inconclusive verdict. */
const AWAITING_HUMAN = /^waiting for (`rollout promote\b|a human)/;

/**
 * Queues an operator command for a running rollout, as `rollout abort`/`promote` and the buttons of
 * `rollout ui --allow-actions` do: the rollout takes it within a second and records it in its audit log.
 * E_ROLLOUT_NOT_FOUND for an unknown id; E_USAGE for a rollout that ended, is gone, or (promote) waits for no one.
 */
export async function sendOperatorCommand(
  store: StateStore,
  id: string,
  command: Omit<OperatorCommand, 'at'>,
): Promise<OperatorCommand> {
  const { type } = command;
  const record = await mustGet(store, id);
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
  const sent = { ...command, at: Date.now() };
  await store.sendCommand(record.id, sent);
  return sent;
}
