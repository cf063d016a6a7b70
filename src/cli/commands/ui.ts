import { RolloutError } from '../../errors.js';
import { isLoopback } from '../../ui/http-answers.js';
import { startUiServer } from '../../ui/ui-server.js';
import { describeStore, openStateStore, operatorName, printJson, storeFlags, type CommonOptions } from '../common.js';
import { livenessOf } from '../liveness.js';
import { sendOperatorCommand } from '../operator-command.js';
import { createLogger } from '../output/logger.js';
import { untilStopped } from '../until-stopped.js';

export interface UiOptions extends CommonOptions {
  /** @default 7300 */
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host: string;
  /** Promote and abort buttons on the page, recorded as operator commands. @default false */
  readonly allowActions: boolean;
  /** Resolves when the server should stop. @default SIGINT or SIGTERM */
  readonly until?: Promise<unknown>;
}

/** `rollout ui`: the live page of every rollout in the state store, until Ctrl-C. */
export async function uiCommand(options: UiOptions): Promise<number> {
  const logger = createLogger({ level: options.logLevel, format: options.output });
  const store = await openStateStore(options);
  try {
    // Before the socket opens: the page's buttons speak for whoever started it.
    const by = `${operatorName()} (rollout ui)`;
    const server = await startUiServer({
      store,
      host: options.host,
      port: options.port,
      allowActions: options.allowActions,
      livenessOf: (record) => livenessOf(record, Date.now()),
      sendCommand: (id, type, reason) =>
        sendOperatorCommand(store, id, { type, by, ...(reason === undefined ? {} : { reason }) }),
      storeFlags: storeFlags(options),
      logger,
    }).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
        throw new RolloutError(
          'E_USAGE',
          `rollout ui cannot listen on ${options.host}:${options.port} (${code}): pick another --port (0 picks a free one) or --host`,
          { cause: error },
        );
      throw error;
    });
    const mode = options.allowActions ? 'promote and abort allowed' : 'read-only';
    if (options.output === 'json') printJson({ url: server.url, allowActions: options.allowActions });
    else process.stdout.write(`rollout ui: ${server.url}/ (${mode}) over ${describeStore(options)}; Ctrl-C stops it\n`);
    if (!isLoopback(options.host))
      process.stderr.write(
        `warning: rollout ui listens on ${options.host}: anyone who reaches that address sees every rollout in the store, who started it and why it failed\n`,
      );
    await (options.until ?? untilStopped());
    await server.close();
    return 0;
  } finally {
    await store.close();
  }
}
