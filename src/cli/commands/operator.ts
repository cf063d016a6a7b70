import { openStateStore, operatorName, printJson, type CommonOptions } from '../common.js';
import { sendOperatorCommand } from '../operator-command.js';

export interface OperatorOptions extends CommonOptions {
  readonly id: string;
  readonly reason?: string;
}

async function send(type: 'abort' | 'promote', options: OperatorOptions): Promise<number> {
  const store = await openStateStore(options);
  try {
    const by = operatorName();
    await sendOperatorCommand(store, options.id, {
      type,
      by,
      ...(options.reason === undefined ? {} : { reason: options.reason }),
    });
    if (options.output === 'json') printJson({ id: options.id, command: type, by });
    else
      process.stdout.write(
        `${type} sent to ${options.id} by ${by}; the rollout acts on it within a second (\`rollout status ${options.id} --watch\` follows it)\n`,
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
